"""The end-to-end part of fitting: the NIL threshold (and a mention-score floor) tuned on end-to-end F1,
and the NIL classifier's training rows, from documents linked with the NIL decision off."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glinker.evaluate.el import GoldDocument
from glinker.rerank.feature_names import FEATURES
from glinker.rerank.tracing import traced_pipeline
from glinker.types import Document


def link_for_tuning(pipeline, docs: Sequence[GoldDocument]) -> list[list[tuple[int, int, str | None, float, float]]]:
    """Link ``docs`` end to end with the NIL threshold off: (start, end, qid, link score, mention score) per mention."""
    saved = getattr(pipeline.reranker, "nil_threshold", None)
    if saved is not None:
        pipeline.reranker.nil_threshold = 0.0
    try:
        batch = [Document(d.id, d.text) for d in docs]
        for s in range(0, len(batch), pipeline.batch_size):
            pipeline.link_batch(batch[s : s + pipeline.batch_size])
    finally:
        if saved is not None:
            pipeline.reranker.nil_threshold = saved
    return [[(m.start, m.end, m.qid, m.link_score, m.score) for m in d.mentions] for d in batch]


def tune_e2e(docs: Sequence[GoldDocument], linked, kb_has,
             link_grid: Sequence[float] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)),
             mention_grid: Sequence[float] = (0.0, 0.4, 0.5, 0.6, 0.7), groups: Sequence[str] | None = None,
             in_kb: bool = True, smooth: int = 0) -> dict:
    """The NIL threshold (and a mention-score floor) that maximise end-to-end strong-match F1 on ``docs``.

    Gold spans the detector never finds and non-entity detections both count here, which the
    gold-mention fit cannot see. ``groups`` (one benchmark name per document) maximises the mean
    of the per-benchmark F1s instead of the pooled F1: the figure the benchmark tables report,
    where the largest benchmark does not decide alone. ``in_kb=False``: a link on a gold mention whose entity
    the KB lacks (or NIL gold) counts as wrong, where the in-KB F1 leaves it out. ``smooth=k``: each threshold
    is judged by its F1 averaged with the ``k`` grid steps on either side, so that the choice sits inside a
    plateau rather than on a peak one document can move.
    """
    from glinker.evaluate.el import score_e2e

    names = sorted(set(groups)) if groups is not None else [None]
    members = {g: [i for i in range(len(docs)) if groups is None or groups[i] == g] for g in names}
    grid = list(link_grid)
    scores: dict[tuple[int, float], tuple[float, dict]] = {}
    for k, t in enumerate(grid):
        for u in mention_grid:
            preds = [[(s, e, q) for s, e, q, p, ms in doc if q is not None and p >= t and ms >= u] for doc in linked]
            per = {g: score_e2e([docs[i] for i in idx], [preds[i] for i in idx], kb_has, in_kb=in_kb).metrics()
                   for g, idx in members.items()}
            scores[(k, u)] = (float(np.mean([r["f1"] for r in per.values()])), per)
    best = None
    for (k, u), (f1, per) in scores.items():
        near = [scores[(j, u)][0] for j in range(max(0, k - smooth), min(len(grid), k + smooth + 1))]
        key = (float(np.mean(near)), -grid[k], -u)
        if best is None or key > best[0]:
            best = (key, float(grid[k]), float(u), per, f1)
    _, t, u, per, f1 = best
    out = {"nil_threshold": t, "min_mention_score": u}
    if groups is None:
        out["e2e"] = {k: per[None][k] for k in ("precision", "recall", "f1")}
    else:
        out["e2e_mean_f1"] = round(f1, 2)
        out["e2e"] = {g: r["f1"] for g, r in per.items()}
    return out


@dataclass(frozen=True)
class TracedMention:
    """One detected mention as :func:`trace_e2e` linked it, before any NIL decision.

    Attributes:
        start, end: Its span (document offsets, end exclusive).
        text: Its surface text.
        best: The best-ranked candidate's QID; ``None`` without candidates.
        mention_score: The detector's score.
        row: The NIL model's input row (:func:`glinker.rerank.nil.mention_row`); ``None`` without candidates.
        features: Every candidate's features (rows in candidate order, columns :data:`FEATURES`), from which
            another ranker's decision can be recomputed (:mod:`glinker.rerank.leave_one_out`).
        qids: The candidates' QIDs, in candidate order.
        ruled: Per candidate, whether the mention's words rule it out.
    """

    start: int
    end: int
    text: str
    best: str | None
    mention_score: float
    row: list[float] | None
    features: np.ndarray | None = None
    qids: tuple[str, ...] = ()
    ruled: np.ndarray | None = None

    @property
    def ruled_out(self) -> bool:
        """Every candidate is ruled out by the mention's words: NIL whatever the NIL model says."""
        return self.ruled is not None and bool(self.ruled.all())


def trace_e2e(pipeline, docs: Sequence[GoldDocument]) -> list[list[TracedMention]]:
    """``docs`` linked end to end by ``pipeline`` (whose reranker is a :class:`FeatureReranker`) with the NIL
    threshold at 0: every detected mention with its best candidate and NIL-model row, per document.

    Each mention is matched to the reranker call that decided it through the pipeline's ``observer``, so a
    long document's segments, linked in batches with their neighbours and after the whole documents of a
    batch, are traced like any other."""
    untuned = copy.copy(pipeline.reranker)
    untuned.nil_threshold = 0.0  # the threshold being refitted decides nothing: every mention with candidates is linked
    traced, tracing = traced_pipeline(pipeline, untuned)
    written: dict[int, list] = {}

    def observe(owners, mentions, decisions) -> None:
        it = iter(decisions)
        for doc, ms in zip(owners, mentions):
            written.setdefault(id(doc), []).extend(next(it) for _ in ms)

    traced.observer = observe
    out: list[list[TracedMention]] = []
    for s in range(0, len(docs), pipeline.batch_size):
        batch = [Document(d.id, d.text) for d in docs[s : s + pipeline.batch_size]]
        tracing.clear()
        written.clear()
        traced.link_batch(batch)
        calls = {id(dec): (row, qid, dec, feats, cands) for trace, call in zip(tracing.traces, tracing.candidate_qids)
                 for row, qid, dec, feats, cands in zip(trace.nil_rows, trace.best, trace.decisions, trace.features,
                                                        call)}
        for doc in batch:
            mentions = []
            for m, decided in zip(doc.mentions, written.get(id(doc), []), strict=True):
                row, qid, dec, feats, cands = calls[id(decided)]
                x, qids, ruled = candidate_table(feats, cands, dec)
                mentions.append(TracedMention(m.start, m.end, m.text, qid, float(m.score), row, x, qids, ruled))
            out.append(mentions)
    return out


def candidate_table(feats, qids: Sequence[str], decision) -> tuple[np.ndarray | None, tuple[str, ...],
                                                                  np.ndarray | None]:
    """A traced mention's candidates as arrays, in candidate order: features (× :data:`FEATURES`), QIDs, and
    which ones its words rule out (a ruled-out candidate's probability is exactly 0; a calibrated one's never
    is)."""
    if not qids:
        return None, (), None
    prob = {c.qid: p for c, p in decision.ranked}
    x = np.array([[f[name] for name in FEATURES] for f in feats], dtype=np.float64)
    return x, tuple(qids), np.array([prob.get(q, 0.0) == 0.0 for q in qids])


def nil_training_rows(docs: Sequence[GoldDocument], traced: Sequence[Sequence[TracedMention]], kb_has,
                      missing_wrong: bool = False) -> tuple[list[list[float]], list[float], list[int]]:
    """The NIL classifier's (row, label, document index) examples among :func:`trace_e2e`'s mentions: one per
    mention with candidates, labelled 1 when its best candidate is the gold entity at exactly its span;
    mentions on left-out gold (out of the KB, NIL, optional) and pronouns (coreference decides those) are
    skipped. ``missing_wrong``: a mention at exactly the span of a gold entity the KB lacks is an example too,
    labelled 0 (any link there is wrong: what a missing entity looks like to the classifier)."""
    from glinker.evaluate.el import e2e_gold
    from glinker.resolution.coref import is_pronoun

    rows: list[list[float]] = []
    labels: list[float] = []
    owners: list[int] = []
    for i, (gold_doc, mentions) in enumerate(zip(docs, traced)):
        gold, ignore = e2e_gold(gold_doc, kb_has)
        missing = out_of_kb_spans(gold_doc, kb_has) if missing_wrong else set()
        for m in mentions:
            span = (m.start, m.end)
            if m.row is None or is_pronoun(m.text) or not gold_doc.in_evaluation_span(*span):
                continue
            if span in missing and span not in gold:
                label = 0.0
            elif span in ignore and span not in gold:
                continue
            else:
                label = float(gold.get(span) == m.best)
            rows.append(m.row)
            labels.append(label)
            owners.append(i)
    return rows, labels, owners


def out_of_kb_spans(doc: GoldDocument, kb_has) -> set[tuple[int, int]]:
    """Spans of ``doc``'s gold mentions (in its evaluation span, not optional) whose entity the KB lacks."""
    return {(m.start, m.end) for m in doc.mentions
            if m.qid is not None and not m.optional and not kb_has(m.qid) and doc.in_evaluation_span(m.start, m.end)}


def collect_nil(pipeline, docs: Sequence[GoldDocument], kb_has) -> tuple[list[list[float]], list[float], list[int]]:
    """Training rows for :class:`glinker.rerank.nil.NilModel` (:func:`nil_training_rows`) from ``docs`` linked
    end to end by ``pipeline`` (:func:`trace_e2e`). Returns (rows, labels, doc index)."""
    return nil_training_rows(docs, trace_e2e(pipeline, docs), kb_has)
