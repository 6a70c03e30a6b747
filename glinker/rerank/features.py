"""Per-candidate reranker features: string and token similarity, rank features, type compatibility,
shared context windows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from functools import lru_cache

import numpy as np
import torch

from glinker.kb.normalize import normalize_alias
from glinker.types import Candidate, EntityRecord, Mention


def _trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def string_similarity(norm_mention: str, names: Sequence[str]) -> float:
    """Best character-trigram Jaccard between a normalised mention and normalised entity names."""
    return _best_jaccard(_trigrams(norm_mention), [_trigrams(name) for name in names])


def token_overlap(norm_mention: str, names: Sequence[str]) -> float:
    """Fraction of the mention's tokens found in some entity name ("Yeltsin" in "Boris Yeltsin" -> 1)."""
    return _best_overlap(norm_mention.split(), [set(name.split()) for name in names])


def _best_jaccard(grams: set[str], names: Sequence[Set[str]]) -> float:
    best = 0.0
    for other in names:
        best = max(best, len(grams & other) / max(1, len(grams | other)))
    return best


def _best_overlap(tokens: Sequence[str], names: Sequence[Set[str]]) -> float:
    if not tokens:
        return 0.0
    best = 0.0
    for have in names:
        best = max(best, sum(t in have for t in tokens) / len(tokens))
    return best


# memoised per name set: the same entities are candidates of mention after mention (a country of
# most mentions of its places), and their names' forms are a pure function of label and aliases
@lru_cache(maxsize=1 << 14)
def name_forms(label: str, aliases: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[frozenset[str], ...],
                                                             tuple[frozenset[str], ...]]:
    """An entity's normalised names (label first), their character trigrams and their token sets."""
    names = tuple(normalize_alias(n) for n in (label, *aliases))
    return names, tuple(frozenset(_trigrams(n)) for n in names), tuple(frozenset(n.split()) for n in names)


# memoised per (mention string, entity names): a collection repeats its names ("Germany", "Clinton") with
# the same candidates, and these four values are a pure function of the two
@lru_cache(maxsize=1 << 17)
def string_features(norm: str, label: str, aliases: tuple[str, ...]) -> tuple[bool, bool, float, float]:
    """(label match, name match, trigram Jaccard, token overlap) of a normalised mention against an entity's
    label and aliases: :func:`string_similarity` and :func:`token_overlap` over :func:`name_forms`."""
    names, name_grams, name_tokens = name_forms(label, aliases)
    return (bool(names) and names[0] == norm, norm in names,
            _best_jaccard(_trigrams(norm), name_grams), _best_overlap(norm.split(), name_tokens))


def _rank_features(values: Sequence[float | None]) -> tuple[list[float], list[float], list[float]]:
    """(value-or-top, value - top, 1/(1+rank)) per candidate; unknown values get (top, 0, 0)."""
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    order = sorted(range(len(values)), key=lambda i: -(values[i] if values[i] is not None else -math.inf))
    rank = {i: r for r, i in enumerate(order)}
    return ([v if v is not None else top for v in values],
            [(v - top) if v is not None else 0.0 for v in values],
            [1.0 / (1.0 + rank[i]) if v is not None else 0.0 for i, v in enumerate(values)])


def candidate_features(
    mention: Mention,
    cands: Sequence[Candidate],
    records: Mapping[str, EntityRecord],
    context_sims: Sequence[float] | None = None,
    name_sims: Sequence[float | None] | None = None,
    type_scores: Sequence[float | None] | None = None,
    name: str | None = None,
) -> list[dict[str, float]]:
    """Feature dicts (names in :data:`FEATURES`) for one mention's candidates.

    ``context_sims``: per candidate, cosine between the mention's context and the
    entity's sentence embedding (0 when unavailable). ``name_sims``: cosine between the
    mention text and the entity's sentence embedding (``None`` when unknown).
    ``type_scores``: the detector's probability that the mention is of one of the
    entity's P31 classes (best class; ``None`` when unknown). ``name``: the string the
    alias and string features compare with entity names, when not the mention text (the
    town of "Southborough, Massachusetts": :func:`glinker.surface.other_name`).
    """
    norm = normalize_alias(mention.text if name is None else name)
    dense, dense_gap, dense_rank = _rank_features([c.dense_score for c in cands])
    if name_sims is None:
        name_sims = [c.name_score for c in cands]
    name_v, name_gap, name_rank = _rank_features(name_sims)
    types, type_gap, _ = _rank_features(type_scores if type_scores is not None else [None] * len(cands))
    pops = [records[c.qid].popularity if c.qid in records else 0.0 for c in cands]
    total = sum(pops)
    feats = []
    for i, c in enumerate(cands):
        rec = records.get(c.qid)
        label_match, in_names, string_sim, overlap = (string_features(norm, rec.label, tuple(rec.aliases))
                                                      if rec is not None else (False, False, 0.0, 0.0))
        alias_match = c.alias_match or in_names
        feats.append({
            "dense": dense[i],
            "dense_gap": dense_gap[i],
            "dense_rank": dense_rank[i],
            "label_match": float(label_match),
            "alias_match": float(alias_match),
            "prior": pops[i] / total if total > 0 else 1.0 / len(cands),
            "log_popularity": math.log1p(max(0.0, pops[i])),
            "context_sim": float(context_sims[i]) if context_sims is not None else 0.0,
            "name_sim": name_v[i] if name_sims[i] is not None else 0.0,
            "name_gap": name_gap[i],
            "name_rank": name_rank[i],
            "string_sim": string_sim,
            "token_overlap": overlap,
            "type_score": types[i] if type_scores is not None and type_scores[i] is not None else 0.0,
            "type_gap": type_gap[i],
            "demonym": float("demonym" in c.sources),
            "coherence": 0.0,
            "coherence_max": 0.0,
            "context_names": 0.0,
        })
    return feats


def type_scores(detector, store, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]],
                records: Mapping[str, EntityRecord]) -> list[list[float | None] | None]:
    """Type compatibility: the span's probability for the best of each candidate's P31 class names.

    The span head was trained to score spans against type names (including Wikidata P31
    class names), so ``sigmoid(span · P("city"))`` says how well "Washington" in this
    sentence fits a city rather than a person. Class names come from the KB (a class
    not in the KB has no name and is skipped). ``detector`` is the bi-encoder detector (its
    ``label_vectors``), ``store`` the KB's entity store, ``records`` the candidates' records; ``None``
    for a mention without candidates or span vector.
    """
    classes = {t for cands in candidates for c in cands if c.qid in records for t in records[c.qid].types[:8]}
    class_records = store.get_many(classes) if classes else {}
    names = {q: r.label for q, r in class_records.items() if r.label}
    if not names:
        return [None] * len(mentions)
    order = sorted(set(names.values()))
    col = {n: k for k, n in enumerate(order)}
    todo = [i for i, (m, cands) in enumerate(zip(mentions, candidates)) if cands and m.vector is not None]
    out: list[list[float | None] | None] = [None] * len(mentions)
    if not todo:
        return out
    spans = torch.from_numpy(np.stack([np.asarray(mentions[i].vector, dtype=np.float32) for i in todo]))
    probs_all = torch.sigmoid(spans @ torch.from_numpy(detector.label_vectors(order)).T).tolist()
    for i, probs in zip(todo, probs_all):
        row: list[float | None] = []
        for c in candidates[i]:
            ks = [col[names[t]] for t in (records[c.qid].types[:8] if c.qid in records else ()) if t in names]
            row.append(max(probs[k] for k in ks) if ks else None)
        out[i] = row
    return out


def shared_window(text: str, start: int, end: int, half: int) -> str:
    """The grid window of ``text`` around ``[start, end)``, shared by every mention starting in the same cell.

    Cells are ``2 * half`` characters wide; a mention starting in cell ``k`` gets the cell plus
    ``half / 2`` characters on each side (at least to the mention's end). A text is thus
    encoded about 1.5 times over, however many mentions it has, where centred windows encode
    ``2 * half`` characters per mention. The left edge moves back to the start of a word and
    the right edge forward to its end, so no word is cut.
    """
    lo, hi = shared_window_bounds(text, start, end, half)
    return text[lo:hi]


def shared_window_bounds(text: str, start: int, end: int, half: int) -> tuple[int, int]:
    """Character offsets ``[lo, hi)`` of :func:`shared_window`."""
    if half <= 0:
        return start, end
    cell = 2 * half
    k = start // cell
    lo = max(0, k * cell - half // 2)
    hi = max(end, (k + 1) * cell + half // 2)
    while lo > 0 and not text[lo - 1].isspace():  # back to the start of the word it cuts
        lo -= 1
    return lo, _word_edge(text, hi)


def _word_edge(text: str, i: int) -> int:
    """``i`` moved forward to the next whitespace (or the end of ``text``)."""
    while i < len(text) and not text[i].isspace():
        i += 1
    return min(i, len(text))
