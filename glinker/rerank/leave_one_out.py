"""Leave-one-benchmark-out validation of the fitted reranker and NIL decision.

A figure measured on the documents a model was fitted or tuned on says little about text nobody tuned on.
Here every fitted part is refitted without the benchmark it is scored on:

1. each benchmark is linked twice by the configured pipeline, keeping every candidate's features: its gold
   spans as ED links them (:func:`collect_spans`), and its text end to end with the NIL decision off
   (:func:`glinker.rerank.fit_e2e.trace_e2e`);
2. for each benchmark B, the ranker (LambdaMART trees and their calibration) is fitted on the other
   benchmarks' gold mentions only, and B's links are recomputed with it from the kept features;
3. the NIL classifier for B is fitted on the other benchmarks' detected mentions, each benchmark's rows
   recomputed with *its own* held-out ranker (so they look like scores on unseen text); its threshold is
   the one that maximises the other benchmarks' mean e2e F1; both are applied to B.

Recomputing from kept features gives exactly what the pipeline would link with the refitted models (a
test checks it for the configured ones), because the features do not depend on the ranker: the
coherence features' first pass uses the linear weights, which stay as configured (so does the span NIL
threshold, which ED accuracy does not read). Refit noise: every step above repeated with bagging under
different seeds; a change is worth keeping when it moves the leave-one-out mean by more than that spread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glinker.evaluate.el import GoldDocument, ed_scope, kb_membership
from glinker.rerank.deletion import deletion_sample, gold_entities
from glinker.rerank.fit_e2e import candidate_table, trace_e2e
from glinker.rerank.kept import KEPT_FORMAT, SpanExamples, load_kept, save_kept  # noqa: F401 (re-exported)
from glinker.rerank.name_rule import NameRule, SpanPlace
from glinker.rerank.nil import NilModel
from glinker.rerank.nil_fit import fit_nil
from glinker.rerank.ranker import FeatureReranker
from glinker.rerank.rescoring import (  # noqa: F401 (re-exported: the unseen check and scripts read them here)
    RankerFit,
    Traced,
    _records,
    _share,
    benchmark_weights,
    deleted_nil,
    e2e_f1,
    ed_accuracy,
    ed_errors,
    fit_ranker,
    linked_without_nil,
    out_of_kb_nil,
    relinked,
)
from glinker.rerank.tracing import traced_pipeline
from glinker.types import Document

logger = logging.getLogger(__name__)

# Bagging for the noise refits: each seed sees a different 90 % of rows and features.
NOISE_PARAMS = {"bagging_fraction": 0.9, "bagging_freq": 1, "feature_fraction": 0.9}


@dataclass
class BenchmarkResult:
    """One benchmark's figures: the configured (in-sample) models against its held-out fold's models."""

    name: str
    documents: int
    ed_in_sample: float | None = None
    ed_loo: float | None = None
    e2e_in_sample: float | None = None
    e2e_loo: float | None = None
    nil_threshold: float | None = None
    ed_seeds: list[float] = field(default_factory=list)
    e2e_seeds: list[float] = field(default_factory=list)
    ed_loo_errors: dict[str, int] = field(default_factory=dict)
    out_of_kb_mentions: int = 0  # detected mentions at the span of a gold entity the KB lacks
    out_of_kb_nil_in_sample: float | None = None  # % of them left NIL
    out_of_kb_nil_loo: float | None = None
    deleted_mentions: int = 0  # detected mentions of a gold entity of the simulated deletions (deleted_eval)
    deleted_nil_in_sample: float | None = None  # % of them left NIL once the entity is gone
    deleted_nil_loo: float | None = None
    deleted_kb_mentions: int = 0  # the same mentions as linked over a KB without those entities (deleted_traced)
    deleted_kb_nil_in_sample: float | None = None
    deleted_kb_nil_loo: float | None = None


def collect_spans(pipeline, docs: Sequence[GoldDocument]) -> list[SpanExamples]:
    """Every gold span ED scores (:func:`glinker.evaluate.el.ed_scope`), linked as
    :func:`glinker.evaluate.el.evaluate_ed` links it (one document per call), with its candidates' features."""
    kb_has = kb_membership(pipeline.kb, docs)
    traced, tracing = traced_pipeline(pipeline, pipeline.reranker)
    out: list[SpanExamples] = []
    for doc in docs:
        scored, _ = ed_scope(doc, kb_has)
        if not scored:
            continue
        tracing.clear()
        traced.link_spans([Document(doc.id, doc.text)], [[(m.start, m.end) for m in scored]])
        calls = ((feats, cands, dec) for trace, qids in zip(tracing.traces, tracing.candidate_qids)
                 for feats, cands, dec in zip(trace.features, qids, trace.decisions))
        for gold, (feats, cands, dec) in zip(scored, calls):
            x, qids, ruled = candidate_table(feats, cands, dec)
            out.append(SpanExamples(x, qids, ruled, gold.qid))
    return out


def kept_features(pipeline, benchmarks: Mapping[str, Sequence[GoldDocument]],
                  cache: str | os.PathLike[str] | None, e2e: bool = True) -> tuple[dict, dict]:
    """Every benchmark's kept gold-span features (:func:`collect_spans`) and, with ``e2e``, traced-mention features:
    read from ``cache`` where it has them, linked by ``pipeline`` where it does not (and then written back)."""
    spans, traced = load_kept(cache) if cache is not None and Path(cache).is_file() else ({}, {})
    added = False
    for n, docs in benchmarks.items():
        if n not in spans:
            logger.info("%s: linking %d documents to keep their gold spans' features", n, len(docs))
            spans[n], added = collect_spans(pipeline, docs), True
        if e2e and n not in traced:
            logger.info("%s: linking %d documents to keep their detected mentions' features", n, len(docs))
            traced[n], added = trace_e2e(pipeline, docs), True
    if cache is not None and added:
        save_kept(cache, spans, traced)
    return spans, traced


def span_places(name: str, docs: Sequence[GoldDocument], kb_has, kept: Sequence[SpanExamples]) -> list[SpanPlace]:
    """Each gold span :func:`collect_spans` keeps, in its order: (document index, start, end, text).

    Raises:
        ValueError: ``kept`` (the benchmark's kept spans) holds another number of spans: a stale kept-features file.
    """
    places = [(k, m.start, m.end, doc.text[m.start:m.end]) for k, doc in enumerate(docs)
              for m in ed_scope(doc, kb_has)[0]]
    if len(places) != len(kept):
        raise ValueError(f"{name}: the kept features hold {len(kept)} gold spans, the benchmark scores "
                         f"{len(places)}; delete the kept-features file and run again")
    return places


def name_rule(pipeline, spans: Mapping[str, Sequence[SpanExamples]], traced: Mapping[str, Traced]) -> NameRule | None:
    """The pipeline's short-name rule over every entity the kept links can name (``None``: it has none)."""
    qids = {q for v in spans.values() for s in v for q in s.qids}
    qids |= {q for docs in traced.values() for doc in docs for m in doc for q in m.qids}
    return NameRule.of_pipeline(pipeline, qids)


def _e2e_folds(names, docs, spans, traced, kb_has, rankers: Mapping[str, RankerFit], params: dict | None,
               features: Sequence[str] | None = None, nil_missing: bool = False, nil_method: str = "held_out",
               ranker_params: dict | None = None, weight=None, nil_objective: str = "in_kb",
               deleted: set[str] | None = None, deleted_eval: set[str] | None = None,
               deleted_traced: Mapping[str, Traced] | None = None, rule: NameRule | None = None,
               nil_smooth: int = 0):
    """Per benchmark: (e2e F1, threshold, % of out-of-KB mentions left NIL) with the NIL model and threshold
    fitted on the others by ``nil_method`` (:mod:`glinker.rerank.nil_fit`). The others' rows are ranked by
    ``rankers`` (each fitted without its own benchmark, not without the scored one: refitting those 42
    rankers per seed moves nothing the NIL classifier reads by much, and costs minutes)."""
    own = {n: relinked(traced[n], rankers[n]) for n in names}
    out = {}
    for n in names:
        others = [o for o in names if o != n]
        booster, threshold = fit_nil(others, spans, traced, docs, kb_has,
                                     lambda s: fit_ranker(s, ranker_params, features, weight), relinked, _records,
                                     params, features, nil_missing, nil_method, held=rankers,
                                     objective=nil_objective, deleted=deleted, smooth=nil_smooth)
        nil = NilModel.from_booster(booster)
        gone = (deleted_nil(docs[n], traced[n], kb_has, rankers[n], nil, threshold, deleted_eval, rule)
                if deleted_eval else None)
        real = (linked_without_nil(docs[n], deleted_traced[n], rankers[n], nil, threshold, deleted_eval, rule)
                if deleted_eval and deleted_traced else None)
        out[n] = (e2e_f1(docs[n], own[n], kb_has, nil, threshold, rule), threshold,
                  _share(*out_of_kb_nil(docs[n], own[n], kb_has, nil, threshold, rule)), gone, real)
    return out


def leave_one_out(pipeline, benchmarks: Mapping[str, Sequence[GoldDocument]], *, e2e: bool = True,
                  noise_seeds: Sequence[int] = (1, 2, 3), cache: str | os.PathLike[str] | None = None,
                  params: dict | None = None, features: Sequence[str] | None = None,
                  nil_missing: bool = False, nil_method: str = "held_out", balance: float = 0.0,
                  nil_objective: str = "in_kb", nil_deleted: float = 0.0,
                  deleted_eval: set[str] | None = None,
                  deleted_traced: Mapping[str, Traced] | None = None, nil_smooth: int = 0) -> list[BenchmarkResult]:
    """Score every benchmark with models fitted on the others, and with the configured ones (in-sample).

    ``pipeline.reranker`` must be a :class:`FeatureReranker` with a LambdaMART model; it is left unchanged.
    ``cache``: a JSON file of the kept features, written after linking and read instead of linking when it
    is there (a benchmark it lacks is linked and added), for refitting with other ``params`` (LightGBM settings
    over :data:`LAMBDAMART_PARAMS`).
    ``features``: the names of :data:`FEATURES` the refitted rankers (and the NIL classifiers, for the best
    candidate) read; ``None``: all. The in-sample figures use the configured models as they are.
    ``nil_missing``: the NIL classifiers also learn from detected mentions of gold entities the KB lacks, as
    wrong links (:func:`glinker.rerank.fit_e2e.nil_training_rows`). Every result also says how many of those
    mentions the in-sample and the held-out models leave NIL. ``nil_method``: how each held-out NIL model and
    threshold are fitted (:data:`glinker.rerank.nil_fit.NIL_METHODS`). ``balance``: how far the rankers weigh
    each benchmark alike rather than each gold span (:func:`benchmark_weights`). ``nil_objective``: the F1 each
    NIL threshold maximises (:data:`glinker.rerank.nil_fit.NIL_OBJECTIVES`). ``deleted_eval``: entities whose
    detected mentions are also scored as if the KB lacked them (:mod:`glinker.rerank.deletion`): the share left
    NIL by the packaged and the held-out models. ``nil_deleted``: the share of the other gold entities (not in
    ``deleted_eval``) whose mentions also teach the NIL classifiers that way (:func:`training_deletions`).
    ``deleted_traced``: per benchmark, its mentions traced over a KB without ``deleted_eval``'s entities (the
    kept features of a run over such a KB: ``benchmarks/bench_out_of_kb.py``'s): the share of their mentions
    left NIL there, by the packaged and the held-out models, with no simulation. ``nil_smooth``: each NIL threshold
    is chosen over F1 averaged with that many grid steps on either side (:func:`glinker.rerank.fit_e2e.tune_e2e`).
    """
    reranker = pipeline.reranker
    if not isinstance(reranker, FeatureReranker) or reranker.booster is None:
        raise ValueError("leave-one-out validation refits a FeatureReranker with a LambdaMART model "
                         "(reranker=feature); the configured reranker has none")
    names = list(benchmarks)
    if len(names) < 2:
        raise ValueError("leave-one-out validation needs at least two benchmarks")
    if deleted_traced is not None:
        if not deleted_eval:
            raise ValueError("mentions traced over a KB without deleted entities are scored with the set of those "
                             "entities (deleted_eval); none was given")
        wrong = [n for n in names if len(deleted_traced.get(n, ())) != len(benchmarks[n])]
        if wrong:
            raise ValueError(f"the mentions traced over the KB without deleted entities lack or miscount the "
                             f"documents of {wrong}; make them again over the benchmarks scored here")
    kb_has = kb_membership(pipeline.kb, [d for docs in benchmarks.values() for d in docs])
    spans, traced = kept_features(pipeline, benchmarks, cache, e2e)
    for n in names:
        logger.info("%s: %d gold spans scored by ED, %d detected mentions traced", n, len(spans[n]),
                    sum(len(d) for d in traced.get(n, ())))
    # the pipeline's short-name rule acts on every refit's links as it would in the pipeline
    rule = name_rule(pipeline, spans, traced)
    where = {n: span_places(n, benchmarks[n], kb_has, spans[n]) for n in names} if rule is not None else {}
    configured = RankerFit.configured(reranker)
    base = params or {}
    weight = benchmark_weights({n: spans[n] for n in names}, balance)

    def rankers(extra: dict) -> dict[str, RankerFit]:
        return {n: fit_ranker([s for o in names if o != n for s in spans[o]], base | extra, features, weight)
                for n in names}

    seeds = {None: rankers({}), **{s: rankers(NOISE_PARAMS | {"seed": s}) for s in noise_seeds}}
    results = {n: BenchmarkResult(n, len(benchmarks[n])) for n in names}
    for n in names:
        r = results[n]
        w = where.get(n)
        r.ed_in_sample = ed_accuracy(spans[n], configured, rule, w)
        r.ed_loo = ed_accuracy(spans[n], seeds[None][n], rule, w)
        r.ed_loo_errors = ed_errors(spans[n], seeds[None][n], rule, w)
        r.ed_seeds = [ed_accuracy(spans[n], seeds[s][n], rule, w) for s in noise_seeds]
        logger.info("%s ED: in-sample %s, leave-one-out %s, seeds %s", n, r.ed_in_sample, r.ed_loo, r.ed_seeds)
    if not e2e:
        return [results[n] for n in names]
    for n in names:
        mine = relinked(traced[n], configured)
        r = results[n]
        r.e2e_in_sample = e2e_f1(benchmarks[n], mine, kb_has, reranker.nil_model, reranker.nil_threshold, rule)
        left, r.out_of_kb_mentions = out_of_kb_nil(benchmarks[n], mine, kb_has, reranker.nil_model,
                                                   reranker.nil_threshold, rule)
        r.out_of_kb_nil_in_sample = _share(left, r.out_of_kb_mentions)
    deleted = training_deletions(benchmarks, kb_has, nil_deleted, deleted_eval)
    if deleted_eval:
        for n in names:
            left, results[n].deleted_mentions = deleted_nil(benchmarks[n], traced[n], kb_has, configured,
                                                            reranker.nil_model, reranker.nil_threshold, deleted_eval,
                                                            rule)
            results[n].deleted_nil_in_sample = _share(left, results[n].deleted_mentions)
            if deleted_traced:
                left, results[n].deleted_kb_mentions = linked_without_nil(
                    benchmarks[n], deleted_traced[n], configured, reranker.nil_model, reranker.nil_threshold,
                    deleted_eval, rule)
                results[n].deleted_kb_nil_in_sample = _share(left, results[n].deleted_kb_mentions)
    folds = _e2e_folds(names, benchmarks, spans, traced, kb_has, seeds[None], None, features, nil_missing,
                       nil_method, base, weight, nil_objective, deleted, deleted_eval, deleted_traced, rule,
                       nil_smooth)
    for n, (f1, threshold, nil_share, gone, real) in folds.items():
        results[n].e2e_loo, results[n].nil_threshold, results[n].out_of_kb_nil_loo = f1, threshold, nil_share
        results[n].deleted_nil_loo = _share(*gone) if gone else None
        results[n].deleted_kb_nil_loo = _share(*real) if real else None
    for s in noise_seeds:
        bagged = NOISE_PARAMS | {"seed": s}  # the NIL classifier is bagged like the rankers
        for n, (f1, *_) in _e2e_folds(names, benchmarks, spans, traced, kb_has, seeds[s], bagged, features,
                                      nil_missing, nil_method, base | bagged, weight, nil_objective, deleted,
                                      rule=rule, nil_smooth=nil_smooth).items():
            results[n].e2e_seeds.append(f1)
    for n in names:
        r = results[n]
        logger.info("%s e2e: in-sample %s, leave-one-out %s (NIL threshold %.2f), seeds %s", n, r.e2e_in_sample,
                    r.e2e_loo, r.nil_threshold, r.e2e_seeds)
    return [results[n] for n in names]


def summary(results: Sequence[BenchmarkResult]) -> dict:
    """Means over benchmarks, the refit noise (the spread, std, of the leave-one-out mean across seeds), and the
    share of out-of-KB mentions left NIL, pooled over every benchmark's mentions."""
    def mean(vals):
        vals = [v for v in vals if v is not None]
        return round(float(np.mean(vals)), 2) if vals else None

    out = {k: mean([getattr(r, k) for r in results]) for k in ("ed_in_sample", "ed_loo", "e2e_in_sample", "e2e_loo")}
    for count, keys in (("out_of_kb_mentions", ("out_of_kb_nil_in_sample", "out_of_kb_nil_loo")),
                        ("deleted_mentions", ("deleted_nil_in_sample", "deleted_nil_loo")),
                        ("deleted_kb_mentions", ("deleted_kb_nil_in_sample", "deleted_kb_nil_loo"))):
        total = sum(getattr(r, count) for r in results)
        for key in keys:  # pooled over the mentions
            left = sum((getattr(r, key) or 0.0) * getattr(r, count) / 100.0 for r in results)
            out[key] = round(100.0 * left / total, 2) if total else None
    for key in ("ed_seeds", "e2e_seeds"):
        per_seed = [list(v) for v in zip(*[getattr(r, key) for r in results])]
        if per_seed:
            means = [float(np.mean(s)) for s in per_seed]
            out[key.replace("_seeds", "_noise_std")] = round(float(np.std(means)), 2)
            out[key.replace("_seeds", "_seed_means")] = [round(m, 2) for m in means]
    return out


def training_deletions(benchmarks: Mapping[str, Sequence[GoldDocument]], kb_has, share: float,
                       exclude: set[str] | None = None, seed: int = 1) -> set[str] | None:
    """The entities whose mentions teach the NIL classifier as if the KB lacked them: a seeded ``share`` of the
    benchmarks' gold entities in the KB, leaving out ``exclude`` (the ones kept for scoring). ``None`` for 0."""
    if not share:
        return None
    return deletion_sample(gold_entities([d for docs in benchmarks.values() for d in docs], kb_has), share, seed,
                           exclude or ())


def refit(spans: Mapping[str, list[SpanExamples]], traced: Mapping[str, Traced],
          benchmarks: Mapping[str, Sequence[GoldDocument]], kb_has, params: dict | None = None,
          features: Sequence[str] | None = None, nil_missing: bool = False,
          nil_method: str = "held_out", balance: float = 0.0, nil_objective: str = "in_kb",
          nil_deleted: float = 0.0, deleted_exclude: set[str] | None = None, nil_smooth: int = 0
          ) -> tuple[RankerFit, object, float]:
    """Models to ship, fitted the way they were validated: the ranker on every benchmark's gold spans; the
    NIL classifier and threshold by ``nil_method`` (:mod:`glinker.rerank.nil_fit`) over every benchmark.
    ``features``, ``nil_missing``, ``balance``, ``nil_objective`` and ``nil_deleted`` as in :func:`leave_one_out`;
    ``deleted_exclude``: entities left out of ``nil_deleted``'s sample (a set a benchmark deletes). Returns
    (ranker, NIL booster, NIL threshold)."""
    names = list(benchmarks)
    weight = benchmark_weights({n: spans[n] for n in names}, balance)
    final = fit_ranker([s for n in names for s in spans[n]], params, features, weight)
    booster, threshold = fit_nil(names, spans, traced, benchmarks, kb_has,
                                 lambda s: fit_ranker(s, params, features, weight), relinked, _records,
                                 features=features, nil_missing=nil_missing, method=nil_method,
                                 objective=nil_objective,
                                 deleted=training_deletions(benchmarks, kb_has, nil_deleted, deleted_exclude),
                                 smooth=nil_smooth)
    return final, booster, threshold
