"""Deleted entities, simulated on kept features: what a linker's candidates look like when the right entity is
missing from the KB although it is one the text is about.

A KB built for one purpose lacks entities another text names, and the ones it lacks are not only rare: a slice
may hold "Kingdom of Italy" and "Moscow, Idaho" but not Italy or Moscow. The NIL classifier learns from detected
mentions, and the mentions of entities the KB naturally lacks are mostly of rare names with few namesakes, so it
never sees the hard case: a well-known entity gone, its namesakes and predecessors still there, one of them
ranked first with a label or alias that matches the mention exactly.

Removing the gold entity's row from a mention's kept candidate table shows it that case without relinking: the
remaining candidates' features that are relative to the others (the name and type scores' gaps and ranks, the
popularity share) are recomputed over what remains, and the ranker's choice and the NIL classifier's row follow
from the table (:func:`glinker.rerank.leave_one_out.relinked`). What it leaves as it was: the coherence features,
which other mentions' first-pass choices give (with one entity gone they would move a little), and the
candidate list itself: a real deletion lets one more entity into the retrievers' top k, a weak candidate left
out here, and the mention's candidate count is kept as it was.

Used twice: as training rows of the NIL classifier (a mention of a deleted entity, labelled a wrong link), and
to measure, leave one benchmark out, how many mentions of a held-out sample of deleted entities stay NIL.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from glinker.evaluate.el import GoldDocument
from glinker.rerank.feature_names import FEATURES
from glinker.rerank.fit_e2e import TracedMention

_COL = {name: i for i, name in enumerate(FEATURES)}
# (value, gap, rank, unknown value is the top) column groups recomputed over the remaining candidates: the
# candidate features (glinker.rerank.features.candidate_features) give an unknown name or type score 0 and an
# unknown dense score the top; the type score has no rank column.
_RANKED = (("name_sim", "name_gap", "name_rank", False), ("type_score", "type_gap", None, False),
           ("dense", "dense_gap", "dense_rank", True))


def without(mention: TracedMention, gone: Iterable[str]) -> TracedMention:
    """``mention`` as it would be linked if the entities ``gone`` were not in the KB: their candidate rows
    removed and the relative features of the others recomputed. ``best`` and ``row`` are left for a ranker to
    fill in (:func:`glinker.rerank.leave_one_out.relinked`); with no candidate left both are ``None``."""
    gone = set(gone)
    if mention.features is None or not gone.intersection(mention.qids):
        return mention
    keep = [i for i, q in enumerate(mention.qids) if q not in gone]
    if not keep:
        return replace(mention, best=None, row=None, features=None, qids=(), ruled=None)
    x = mention.features[keep].copy()
    for value, gap, rank, unknown_top in _RANKED:
        _rerank(x, _COL[value], _COL[gap], _COL[rank] if rank else None, unknown_top)
    prior = _COL["prior"]
    total = float(mention.features[keep, prior].sum())
    # shares of the popularity of what remains; without popularity every candidate gets the same share
    x[:, prior] = x[:, prior] / total if total > 0 else 1.0 / len(keep)
    # The row's candidate count stays: the retrievers fill their top k again from the entities that remain (the
    # name retriever returns 32 for nearly every mention), so a count one short would mark a simulated row, a
    # signature the classifier could learn in place of what a deletion looks like.
    return replace(mention, features=x, qids=tuple(mention.qids[i] for i in keep), ruled=mention.ruled[keep])


def _rerank(x: np.ndarray, value: int, gap: int, rank: int | None, unknown_top: bool) -> None:
    """Recompute (value, value - top, 1 / (1 + rank)) of :func:`glinker.rerank.features._rank_features` in place.

    A candidate whose value was unknown has rank 0 (without a rank column: value and gap 0) and keeps gap and
    rank 0; its value becomes the new top where ``unknown_top``."""
    known = x[:, rank] > 0 if rank is not None else (x[:, value] != 0) | (x[:, gap] != 0)
    if not known.any():
        return
    vals = x[:, value]
    top = float(vals[known].max())
    order = np.argsort(-np.where(known, vals, -np.inf), kind="stable")
    ranks = np.empty(len(vals), dtype=np.float64)
    ranks[order] = np.arange(len(vals))
    x[:, gap] = np.where(known, vals - top, 0.0)
    if unknown_top:
        x[:, value] = np.where(known, vals, top)
    if rank is not None:
        x[:, rank] = np.where(known, 1.0 / (1.0 + ranks), 0.0)


def gold_entities(docs: Sequence[GoldDocument], kb_has: Callable[[str], bool]) -> list[str]:
    """The gold entities (sorted) the KB holds, of mentions inside the documents' evaluation spans."""
    return sorted({m.qid for d in docs for m in d.mentions
                   if m.qid and not m.optional and kb_has(m.qid) and d.in_evaluation_span(m.start, m.end)})


def deletion_sample(entities: Sequence[str], share: float, seed: int = 0,
                    exclude: Iterable[str] = ()) -> set[str]:
    """A seeded sample of ``share`` (0 to 1) of ``entities``, leaving out ``exclude`` (a set kept for scoring)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"deletion share {share}: expected a number from 0 to 1")
    skip = set(exclude)
    pool = [q for q in entities if q not in skip]
    return set(random.Random(seed).sample(pool, round(share * len(pool))))


def deleted_spans(doc: GoldDocument, deleted: set[str],
                  kb_has: Callable[[str], bool] | None = None) -> dict[tuple[int, int], str]:
    """Span -> QID of ``doc``'s gold mentions of a ``deleted`` entity (in the evaluation span, not optional; with
    ``kb_has``, only entities the KB holds: a deletion simulated on it)."""
    return {(m.start, m.end): m.qid for m in doc.mentions
            if m.qid in deleted and not m.optional and (kb_has is None or kb_has(m.qid))
            and doc.in_evaluation_span(m.start, m.end)}


def deleted_mentions(doc: GoldDocument, mentions: Sequence[TracedMention], deleted: set[str],
                     kb_has: Callable[[str], bool], changed_only: bool = False) -> list[TracedMention]:
    """The traced mentions at exactly the span of a gold mention of a ``deleted`` entity (in the evaluation span,
    not optional, in the KB), each as :func:`without` that entity leaves it. ``changed_only``: only those whose
    candidates held the entity (the others link as they did)."""
    gold = deleted_spans(doc, deleted, kb_has)
    return [without(m, (gold[(m.start, m.end)],)) for m in mentions
            if (m.start, m.end) in gold and (not changed_only or gold[(m.start, m.end)] in m.qids)]
