"""Kept features scored again with other models: the ranker a refit gives, the links and NIL-classifier rows it
makes of the kept candidate tables, and the figures read from them (ED accuracy and its error classes, e2e F1,
the share of mentions left NIL where NIL is right).

Recomputing from kept features gives exactly what the pipeline would link with the refitted models, because the
features do not depend on the ranker (:mod:`glinker.rerank.leave_one_out`, :mod:`glinker.rerank.unseen`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from glinker.evaluate.el import GoldDocument, score_e2e
from glinker.rerank.boosters import feature_columns
from glinker.rerank.deletion import deleted_mentions, deleted_spans
from glinker.rerank.fit import MentionExamples, fit_lambdamart, fit_logistic
from glinker.rerank.fit_e2e import TracedMention, out_of_kb_spans
from glinker.rerank.kept import SpanExamples
from glinker.rerank.name_rule import NameRule, SpanPlace
from glinker.rerank.nil import MENTION_FEATURES, NilModel
from glinker.rerank.ranker import FEATURES, FeatureReranker

Traced = Sequence[Sequence[TracedMention]]

@dataclass
class RankerFit:
    """A ranker: LambdaMART trees and the calibration of their score into a link probability."""

    booster: object
    model_scale: float
    model_bias: float
    columns: list[int] | None = None  # of FEATURES, the ones the trees read (None: all)

    @classmethod
    def configured(cls, reranker: FeatureReranker) -> RankerFit:
        """The reranker's own model."""
        return cls(reranker.booster, reranker.model_scale, reranker.model_bias,
                   feature_columns(reranker.booster, FEATURES))

    def probs(self, blocks: Sequence[np.ndarray | None], ruled: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Link probabilities of every candidate block (one predict call); ruled-out candidates get 0."""
        rows = [b for b in blocks if b is not None]
        if not rows:
            return [None] * len(blocks)
        x = np.vstack(rows)
        if self.columns is not None:
            x = x[:, self.columns]
        z = self.model_scale * self.booster.predict(x) + self.model_bias
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
        out, k = [], 0
        for b, r in zip(blocks, ruled):
            if b is None:
                out.append(None)
                continue
            q = p[k : k + len(b)].copy()
            q[r] = 0.0
            out.append(q)
            k += len(b)
        return out


def ed_picks(spans: Sequence[SpanExamples], fit: RankerFit, rule: NameRule | None = None,
             where: Sequence[SpanPlace] | None = None) -> list[str | None]:
    """Each gold span's link with ``fit`` (its best candidate; ``None`` without candidates), after the short-name
    ``rule`` when given (``where``: each span's document and text, :func:`glinker.rerank.leave_one_out.span_places`)."""
    probs = fit.probs([s.features for s in spans], [s.ruled for s in spans])
    picks = [None if p is None else s.qids[int(np.argmax(p))] for s, p in zip(spans, probs)]
    return rule.picks(where, picks) if rule is not None and where is not None else picks


def ed_accuracy(spans: Sequence[SpanExamples], fit: RankerFit, rule: NameRule | None = None,
                where: Sequence[SpanPlace] | None = None) -> float:
    """ED accuracy (%) with ``fit`` (and the short-name ``rule``): the link is the gold entity (no candidates:
    wrong)."""
    right = sum(1 for s, q in zip(spans, ed_picks(spans, fit, rule, where)) if q is not None and q == s.gold)
    return round(100.0 * right / max(len(spans), 1), 2)


def ed_errors(spans: Sequence[SpanExamples], fit: RankerFit, rule: NameRule | None = None,
              where: Sequence[SpanPlace] | None = None) -> dict[str, int]:
    """Where ED's errors with ``fit`` come from: spans without candidates, gold not among the candidates,
    gold there but ranked below another; and of the last, how many golds were found as the country of a
    nationality word ("Japanese" -> Japan: a convention some benchmarks annotate and others do not)."""
    demonym = FEATURES.index("demonym")
    out = {"right": 0, "no_candidates": 0, "gold_not_candidate": 0, "ranked_below": 0, "ranked_below_demonym": 0}
    for s, q in zip(spans, ed_picks(spans, fit, rule, where)):
        if q is not None and q == s.gold:  # the rule can make a span right whose gold is no candidate
            out["right"] += 1
        elif s.features is None:
            out["no_candidates"] += 1
        elif s.gold not in s.qids:
            out["gold_not_candidate"] += 1
        else:
            out["ranked_below"] += 1
            out["ranked_below_demonym"] += int(s.features[s.qids.index(s.gold), demonym] > 0)
    return out


def relinked(traced: Traced, fit: RankerFit) -> list[list[TracedMention]]:
    """The traced mentions as ``fit`` ranks them: best candidate, ruled-out flag and NIL-model row."""
    flat = [m for doc in traced for m in doc]
    probs = iter(fit.probs([m.features for m in flat], [m.ruled for m in flat]))
    keep = len(MENTION_FEATURES)
    out = []
    for doc in traced:
        mentions = []
        for m in doc:
            p = next(probs)
            if p is None:
                mentions.append(m)
                continue
            order = np.argsort(-p, kind="stable")
            top = int(order[0])
            gap = float(p[top] - p[order[1]]) if len(p) > 1 else float(p[top])
            row = [float(p[top]), gap, *m.row[2:keep], *(float(v) for v in m.features[top])]
            mentions.append(replace(m, best=m.qids[top], row=row))
        out.append(mentions)
    return out


def _nil_probs(traced: Traced, nil: NilModel) -> list[list[float]]:
    """The NIL classifier's link probability per mention; 0 without candidates or with all ruled out."""
    rows = [m.row for doc in traced for m in doc if m.row is not None and not m.ruled_out]
    it = iter(nil.predict(rows).tolist() if rows else [])
    return [[next(it) if m.row is not None and not m.ruled_out else 0.0 for m in doc] for doc in traced]


def _records(traced: Traced, nil: NilModel, rule: NameRule | None = None, threshold: float = 0.0
             ) -> list[list[tuple]]:
    """``tune_e2e``'s (start, end, qid, link score, mention score) records; after the short-name ``rule`` (whose
    full names must be linked at ``threshold``) when given."""
    records = [[(m.start, m.end, m.best, p, m.mention_score) for m, p in zip(doc, ps)]
               for doc, ps in zip(traced, _nil_probs(traced, nil))]
    return records if rule is None else rule.records(traced, records, threshold)


def e2e_f1(docs: Sequence[GoldDocument], traced: Traced, kb_has, nil: NilModel, threshold: float,
           rule: NameRule | None = None) -> float:
    """Strong-match in-KB F1 (%) of the traced links kept by ``nil`` at ``threshold`` (after the short-name
    ``rule`` when given)."""
    preds = [[(s, e, q) for s, e, q, p, _ in doc if q is not None and p >= threshold]
             for doc in _records(traced, nil, rule, threshold)]
    return round(float(score_e2e(docs, preds, kb_has).metrics()["f1"]), 2)


def out_of_kb_nil(docs: Sequence[GoldDocument], traced: Traced, kb_has, nil: NilModel, threshold: float,
                  rule: NameRule | None = None) -> tuple[int, int]:
    """(left NIL, all) among the traced mentions at exactly the span of a gold entity the KB lacks, where NIL
    is right."""
    return _left_nil(_records(traced, nil, rule, threshold), [out_of_kb_spans(doc, kb_has) for doc in docs],
                     threshold)


def _left_nil(records: Sequence[Sequence[tuple]], spans: Sequence[Container[tuple[int, int]]], threshold: float
              ) -> tuple[int, int]:
    """(left NIL, all) among each document's ``records`` (:func:`_records`) at exactly one of its ``spans``."""
    left = total = 0
    for recs, wanted in zip(records, spans):
        for s, e, q, p, _ in recs:
            if (s, e) in wanted:
                total += 1
                left += q is None or p < threshold
    return left, total


def deleted_nil(docs: Sequence[GoldDocument], traced: Traced, kb_has, fit: RankerFit, nil: NilModel,
                threshold: float, deleted: set[str], rule: NameRule | None = None) -> tuple[int, int]:
    """(left NIL, all) among the traced mentions at exactly the span of a gold entity in ``deleted``, linked as if
    the KB lacked it (:mod:`glinker.rerank.deletion`) by ``fit`` and kept by ``nil`` at ``threshold``."""
    gone = relinked([deleted_mentions(d, ms, deleted, kb_has) for d, ms in zip(docs, traced)], fit)
    records = _records(gone, nil, rule, threshold)
    flat = [p for doc in records for *_, p, _ in doc]
    best = [q for doc in records for _, _, q, _, _ in doc]
    return sum(1 for q, p in zip(best, flat) if q is None or p < threshold), len(flat)


def linked_without_nil(docs: Sequence[GoldDocument], traced: Traced, fit: RankerFit, nil: NilModel, threshold: float,
                       deleted: set[str], rule: NameRule | None = None) -> tuple[int, int]:
    """(left NIL, all) among mentions traced over a KB that lacks the ``deleted`` entities (linked by the pipeline
    over that KB, not simulated), at exactly the span of a gold mention of one of them, as ``fit`` ranks them and
    ``nil`` keeps them at ``threshold``."""
    records = _records(relinked(traced, fit), nil, rule, threshold)
    return _left_nil(records, [deleted_spans(doc, deleted) for doc in docs], threshold)


def _share(left: int, total: int) -> float | None:
    return round(100.0 * left / total, 2) if total else None


def fit_ranker(spans: Sequence[SpanExamples], params: dict | None = None,
               features: Sequence[str] | None = None, weight=None) -> RankerFit:
    """LambdaMART trees on the gold spans whose gold entity is among the candidates, and their calibration.

    ``features``: the names of :data:`FEATURES` the trees read (``None``: all). ``weight``: ``id(span) ->
    weight`` (:func:`benchmark_weights`), scaled to a mean of 1 over the spans fitted; ``None``: equal.
    """
    chosen = list(FEATURES) if features is None else [n for n in FEATURES if n in set(features)]
    cols = [FEATURES.index(n) for n in chosen]
    kept = [s for s in spans if s.features is not None and s.gold in s.qids]
    rows = [MentionExamples(s.features[:, cols], np.array([float(q == s.gold) for q in s.qids]), s.gold,
                            list(s.qids)) for s in kept]
    weights = None
    if weight is not None:
        weights = np.array([weight(id(s)) for s in kept], dtype=np.float64)
        weights /= weights.mean()
    booster = fit_lambdamart(rows, chosen, params, weights)
    x = np.vstack([r.features for r in rows])
    y = np.concatenate([r.labels for r in rows])
    (scale,), bias = fit_logistic(booster.predict(x)[:, None], y, l2=0.0)
    return RankerFit(booster, float(scale), float(bias), cols)


def benchmark_weights(spans: Mapping[str, Sequence[SpanExamples]], balance: float):
    """``id(span) -> weight`` that gives a benchmark of N gold spans the say of N^(1 - balance) spans: 0 weighs
    every span alike (the largest benchmark's annotation habits decide most), 1 every benchmark alike (its
    few spans count many times). ``None`` for 0."""
    if not balance:
        return None
    by_id = {id(s): float(len(v)) ** -float(balance) for v in spans.values() for s in v}
    return by_id.__getitem__
