"""The coherence features: how well a candidate fits the entities the other mentions of its text resolve to."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

import numpy as np

from glinker.kb.normalize import normalize_alias
from glinker.rerank.feature_names import DOCUMENT_FEATURES
from glinker.resolution.coref import is_pronoun
from glinker.types import Mention

_PRODUCT_CELLS = 1 << 22  # most candidate x voter similarities held at once (32 MB of float64)


def add_coherence(mentions: Sequence[Mention], contexts: Sequence[str], ents, feats: list[list[dict[str, float]]],
                  weights: Mapping[str, float], voters: Sequence[Sequence[int]] | None = None,
                  reach: int | None = None) -> None:
    """Add ``coherence`` and ``coherence_max`` to ``feats`` in place: how well a candidate fits the entities
    the document's other mentions resolve to.

    A first pass scores every candidate without the document features; each other mention
    of the same text (mentions sharing a context string) then stands for the mixture of its
    candidates' entity vectors under that pass's softmax, and a candidate's coherence is its
    mean cosine with those mixtures ("Alabama" among "Crimson Tide" and "West Virginia" fits
    the university; "Vancouver" next to "Canada" fits British Columbia). Mentions with the
    same normalised text are left out of each other's votes, so a repeated name does not
    confirm its own first guess; pronouns neither vote nor get a coherence (their candidates
    come from the string "he"; :mod:`glinker.resolution.coref` links them). ``coherence_max`` is the best
    single vote instead of the mean (one strongly related entity: "Crimson Tide" for "Alabama").
    The voters are ``voters[i]``, or else the mentions of the same context starting within
    ``reach`` characters of the mention (``None``: all of them). ``ents`` are the candidates' unit entity
    vectors and known-masks per mention (``None``: no vote); ``weights`` score the first pass.
    """
    base = {n: w for n, w in weights.items() if n not in DOCUMENT_FEATURES}
    # a pronoun's candidates are noise; an entity without embedding is a zero row: no vote, no coherence
    votes = [ents[i] is not None and not is_pronoun(mentions[i].text) for i in range(len(mentions))]
    if voters is None:
        voters = same_context(mentions, contexts, votes, reach)
    mix: dict[int, np.ndarray] = {}
    norm: dict[int, str] = {}

    def mixture(j: int) -> np.ndarray:
        """Mention j's vote: its candidates' entity vectors under the first pass's softmax."""
        if j not in mix:
            z = np.array([sum(w * f.get(n, 0.0) for n, w in base.items()) for f in feats[j]])  # no bias
            p = np.exp(z - z.max())
            mix[j] = (p / p.sum()) @ ents[j][0]
        return mix[j]

    def text(j: int) -> str:
        if j not in norm:
            norm[j] = normalize_alias(mentions[j].text)
        return norm[j]

    # mentions with the same voters (all of a text's, unless ``reach`` cuts them) share one product of
    # their candidates with the voters' mixtures: a matrix product per text, not one per mention
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, js in enumerate(voters):
        if votes[i]:
            groups.setdefault(tuple(j for j in js if votes[j]), []).append(i)
    for js, members in groups.items():
        cols = {i: [c for c, j in enumerate(js) if j != i and text(j) != text(i)] for i in members}
        members = [i for i in members if cols[i]]
        # a bounded product at a time: a long text linked whole (``reach`` None) has thousands of voters
        step = max(1, _PRODUCT_CELLS // max(1, len(js) * max((len(feats[i]) for i in members), default=1)))
        for part in (members[k : k + step] for k in range(0, len(members), step)):
            used = sorted({c for i in part for c in cols[i]})
            at = {c: k for k, c in enumerate(used)}
            sims_all = np.concatenate([ents[i][0] for i in part]) @ np.stack([mixture(js[c]) for c in used]).T
            row = 0
            for i in part:
                n = len(feats[i])
                sims = sims_all[row : row + n][:, [at[c] for c in cols[i]]]
                row += n
                for f, mean, best in zip(feats[i], sims.mean(axis=1).tolist(), sims.max(axis=1).tolist()):
                    f["coherence"], f["coherence_max"] = mean, best


def same_context(mentions: Sequence[Mention], contexts: Sequence[str], votes: Sequence[bool], reach: int | None
                 ) -> list[Sequence[int]]:
    """Per mention, the voting mentions of its context (by position) starting within ``reach`` characters
    (``None``: all); none for a mention that does not vote."""
    groups: dict[str, list[int]] = {}
    for i, ctx in enumerate(contexts):
        if votes[i]:
            groups.setdefault(ctx, []).append(i)
    out: list[Sequence[int]] = [()] * len(mentions)
    for members in groups.values():
        # by position (stable: a pipeline's mentions keep their order), so the voters within
        # reach are a slice: bounded work per mention however long the text
        members.sort(key=lambda i: mentions[i].start)
        starts = [mentions[i].start for i in members]
        for pos, i in enumerate(members):
            lo, hi = (0, len(members)) if reach is None else (
                bisect_left(starts, starts[pos] - reach), bisect_right(starts, starts[pos] + reach))
            out[i] = members[lo:hi]
    return out
