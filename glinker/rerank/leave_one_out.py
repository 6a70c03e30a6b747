"""Leave-one-benchmark-out validation of the fitted reranker and NIL decision.

A figure measured on the documents a model was fitted or tuned on says little about text nobody tuned on.
Here every fitted part is refitted without the benchmark it is scored on:

1. candidate features of every gold mention of every benchmark are collected once (:func:`collect`);
2. for each benchmark B, the ranker (first-pass linear weights, LambdaMART trees and their calibration) is
   fitted on the other benchmarks' mentions only;
3. ED: B's gold spans are linked by the pipeline with B's ranker (:func:`glinker.evaluate.el.evaluate_ed`);
4. e2e: B's documents are linked end to end by B's ranker with the NIL decision off, keeping each detected
   mention's NIL-model row. The NIL classifier for B is then fitted on the other benchmarks' rows (each of
   those linked by *its own* held-out ranker, so their scores look like scores on unseen text), its
   threshold tuned on the other benchmarks' e2e F1, and both applied to B.

The span NIL threshold for given spans stays as configured (a NIL cut-off on gold spans, 0.1 by default).
Refit noise: the same folds refitted with bagging under different seeds (ED: the rankers, scored by their
top candidate among the collected ones; e2e: the NIL classifiers over the same links). A change is worth
keeping when it moves the leave-one-out mean by more than that spread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from glinker.evaluate.el import GoldDocument, evaluate_ed, kb_membership, score_e2e
from glinker.rerank.fit import MentionExamples, collect, decide_by, fit_lambdamart, fit_listwise, fit_logistic
from glinker.rerank.fit_e2e import TracedMention, nil_training_rows, trace_e2e, tune_e2e
from glinker.rerank.nil import NilModel, fit_nil_model
from glinker.rerank.ranker import FEATURES, FeatureReranker

logger = logging.getLogger(__name__)

# Bagging for the noise refits: each seed sees a different 90 % of rows and features.
NOISE_PARAMS = {"bagging_fraction": 0.9, "bagging_freq": 1, "feature_fraction": 0.9}


@dataclass
class RankerFit:
    """A ranker fitted on some benchmarks: first-pass linear weights, trees and their calibration."""

    weights: dict[str, float]
    bias: float
    booster: object
    model_scale: float
    model_bias: float


@dataclass
class BenchmarkResult:
    """One benchmark's figures: the configured (in-sample) models against its held-out fold's models."""

    name: str
    documents: int
    ed_in_sample: float | None = None
    ed_loo: float | None = None
    e2e_in_sample: float | None = None
    e2e_loo: float | None = None
    # ED accuracy of the held-out ranker under each noise seed (argmax over the collected candidates)
    ed_seeds: list[float] = field(default_factory=list)
    e2e_seeds: list[float] = field(default_factory=list)
    nil_threshold: float | None = None


def fit_ranker(rows: Sequence[MentionExamples], params: dict | None = None) -> RankerFit:
    """The ranker :func:`glinker.rerank.fit.fit_reranker` fits, on ``rows`` alone (no held-out part)."""
    rows = [ex for ex in rows if ex.gold is not None and ex.labels.any()]
    x = np.vstack([ex.features for ex in rows])
    y = np.concatenate([ex.labels for ex in rows])
    direction = fit_listwise(rows)
    (scale,), b = fit_logistic((x @ direction)[:, None], y, l2=0.0)
    booster = fit_lambdamart(rows, FEATURES, params)
    (mscale,), mbias = fit_logistic(booster.predict(x)[:, None], y, l2=0.0)
    return RankerFit({n: float(v) for n, v in zip(FEATURES, scale * direction)}, float(b), booster,
                     float(mscale), float(mbias))


@contextmanager
def ranker_in(reranker: FeatureReranker, fit: RankerFit | None, nil_model=None,
              nil_threshold: float | None = None) -> Iterator[FeatureReranker]:
    """``reranker`` with ``fit``'s ranker (and a NIL model / threshold) for the duration of the block."""
    names = ("weights", "bias", "booster", "model_scale", "model_bias", "nil_model", "nil_threshold")
    saved = {n: getattr(reranker, n) for n in names}
    try:
        if fit is not None:
            reranker.weights, reranker.bias, reranker.booster = dict(fit.weights), fit.bias, fit.booster
            reranker.model_scale, reranker.model_bias = fit.model_scale, fit.model_bias
        if nil_model is not None:
            reranker.nil_model = nil_model
        if nil_threshold is not None:
            reranker.nil_threshold = nil_threshold
        yield reranker
    finally:
        for n, v in saved.items():
            setattr(reranker, n, v)


class _FittedNil(NilModel):
    """A NIL classifier fitted in memory (the packaged one is read from a file)."""

    def __init__(self, booster) -> None:  # noqa: D107 - no file to read
        self.path = None
        self.booster = booster


def ed_top1(rows: Sequence[MentionExamples], fit: RankerFit, in_kb_total: int) -> float:
    """ED accuracy (%) of ``fit``'s argmax over collected candidates; ``in_kb_total`` counts gold mentions
    without candidates too (they are wrong whatever the ranker does)."""
    picks = decide_by(rows, lambda f: fit.model_scale * fit.booster.predict(f) + fit.model_bias)
    right = sum(1 for ex, (qid, _) in zip(rows, picks) if ex.gold is not None and qid == ex.gold)
    return 100.0 * right / max(in_kb_total, 1)


Traced = Sequence[Sequence[TracedMention]]


def _e2e_f1(docs: Sequence[GoldDocument], traced: Traced, kb_has, nil: NilModel, threshold: float) -> float:
    preds = [[(m.start, m.end, m.best) for m, p in zip(doc, ps) if m.best is not None and p >= threshold]
             for doc, ps in zip(traced, _nil_probs(traced, nil))]
    return float(score_e2e(docs, preds, kb_has).metrics()["f1"])


def _nil_probs(traced: Traced, nil: NilModel) -> list[list[float]]:
    """The NIL classifier's link probability per mention; 0 without candidates or with all ruled out."""
    rows = [m.row for doc in traced for m in doc if m.row is not None and not m.ruled_out]
    it = iter(nil.predict(rows).tolist() if rows else [])
    return [[next(it) if m.row is not None and not m.ruled_out else 0.0 for m in doc] for doc in traced]


def _records(traced: Traced, probs) -> list[list[tuple]]:
    """``tune_e2e``'s (start, end, qid, link score, mention score) records."""
    return [[(m.start, m.end, m.best, p, m.mention_score) for m, p in zip(doc, ps)] for doc, ps in zip(traced, probs)]


def leave_one_out(pipeline, benchmarks: Mapping[str, Sequence[GoldDocument]], *, e2e: bool = True,
                  in_sample: bool = True, noise_seeds: Sequence[int] = (1, 2, 3)) -> list[BenchmarkResult]:
    """Score every benchmark with models fitted on the others (and, ``in_sample``, with the configured ones).

    ``pipeline.reranker`` must be a :class:`FeatureReranker` with a LambdaMART model; it is restored after.
    """
    reranker = pipeline.reranker
    if not isinstance(reranker, FeatureReranker) or reranker.booster is None:
        raise ValueError("leave-one-out validation refits a FeatureReranker with a LambdaMART model "
                         "(reranker=feature); the configured reranker has none")
    names = list(benchmarks)
    if len(names) < 2:
        raise ValueError("leave-one-out validation needs at least two benchmarks")
    has_all = kb_membership(pipeline.kb, [d for docs in benchmarks.values() for d in docs])
    has = dict.fromkeys(names, has_all)
    examples, totals = {}, {}
    for n, docs in benchmarks.items():
        examples[n] = collect(pipeline, docs)
        totals[n] = sum(1 for d in docs for m in d.mentions if not m.optional and m.qid and has[n](m.qid))
        logger.info("%s: %d gold mentions with candidates (%d in the KB)", n, len(examples[n]), totals[n])
    others = {n: [ex for o in names if o != n for ex in examples[o]] for n in names}
    folds = {n: fit_ranker(others[n]) for n in names}
    results = {n: BenchmarkResult(n, len(benchmarks[n])) for n in names}
    for n in names:
        for seed in noise_seeds:
            fit = fit_ranker(others[n], NOISE_PARAMS | {"seed": seed})
            results[n].ed_seeds.append(round(ed_top1(examples[n], fit, totals[n]), 2))
        with ranker_in(reranker, folds[n]):
            results[n].ed_loo = round(evaluate_ed(pipeline, benchmarks[n]).metrics()["accuracy"], 2)
        if in_sample:
            results[n].ed_in_sample = round(evaluate_ed(pipeline, benchmarks[n]).metrics()["accuracy"], 2)
        logger.info("%s ED: in-sample %s, leave-one-out %s, seeds %s", n, results[n].ed_in_sample,
                    results[n].ed_loo, results[n].ed_seeds)
    if not e2e:
        return [results[n] for n in names]
    traced = {}
    for n in names:
        with ranker_in(reranker, folds[n], nil_threshold=0.0):
            traced[n] = trace_e2e(pipeline, benchmarks[n])
        if in_sample:
            results[n].e2e_in_sample = round(float(score_e2e(benchmarks[n], [
                [(m.start, m.end, m.qid) for m in d.mentions if m.qid] for d in _linked(pipeline, benchmarks[n])],
                has[n]).metrics()["f1"]), 2)
    nil_rows = {n: nil_training_rows(benchmarks[n], traced[n], has[n])[:2] for n in names}
    for n in names:
        for seed in (None, *noise_seeds):
            params = None if seed is None else NOISE_PARAMS | {"seed": seed}
            rows = [r for o in names if o != n for r in nil_rows[o][0]]
            labels = [y for o in names if o != n for y in nil_rows[o][1]]
            nil = _FittedNil(fit_nil_model(rows, labels, params))
            # the threshold that maximises the other benchmarks' mean e2e F1 (their own folds' links)
            docs = [d for o in names if o != n for d in benchmarks[o]]
            groups = [o for o in names if o != n for _ in benchmarks[o]]
            recs = [r for o in names if o != n for r in _records(traced[o], _nil_probs(traced[o], nil))]
            tuned = tune_e2e(docs, recs, has_all, mention_grid=(0.0,), groups=groups)
            f1 = round(_e2e_f1(benchmarks[n], traced[n], has[n], nil, tuned["nil_threshold"]), 2)
            if seed is None:
                results[n].e2e_loo, results[n].nil_threshold = f1, tuned["nil_threshold"]
            else:
                results[n].e2e_seeds.append(f1)
        logger.info("%s e2e: in-sample %s, leave-one-out %s (NIL threshold %.2f), seeds %s", n,
                    results[n].e2e_in_sample, results[n].e2e_loo, results[n].nil_threshold, results[n].e2e_seeds)
    return [results[n] for n in names]


def _linked(pipeline, docs: Sequence[GoldDocument]):
    """``docs`` linked end to end by the pipeline as configured."""
    from glinker.types import Document

    batch = [Document(d.id, d.text) for d in docs]
    for s in range(0, len(batch), pipeline.batch_size):
        pipeline.link_batch(batch[s : s + pipeline.batch_size])
    return batch


def summary(results: Sequence[BenchmarkResult]) -> dict:
    """Means over benchmarks, and the refit noise: the spread (std) of the leave-one-out mean across seeds."""
    def mean(vals):
        vals = [v for v in vals if v is not None]
        return round(float(np.mean(vals)), 2) if vals else None

    out = {k: mean([getattr(r, k) for r in results]) for k in ("ed_in_sample", "ed_loo", "e2e_in_sample", "e2e_loo")}
    for key in ("ed_seeds", "e2e_seeds"):
        per_seed = [list(v) for v in zip(*[getattr(r, key) for r in results])]
        if per_seed:
            means = [float(np.mean(s)) for s in per_seed]
            out[key.replace("_seeds", "_noise_std")] = round(float(np.std(means)), 2)
            out[key.replace("_seeds", "_seed_means")] = [round(m, 2) for m in means]
    return out
