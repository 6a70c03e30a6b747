"""The packaged models against a refit, on benchmarks no fit saw, from kept features.

Leave-one-out validation (:mod:`glinker.rerank.leave_one_out`) chooses how to fit; before a refit replaces the
packaged ranker and NIL model it is also scored on benchmarks that neither was fitted on. Here both are scored
on those benchmarks from their kept features (linked once by the configured pipeline, kept in the same file as
the fitted benchmarks'), so a refitting choice is checked in seconds instead of a linking run per choice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from glinker.evaluate.el import GoldDocument, kb_membership
from glinker.rerank.leave_one_out import (
    RankerFit,
    _share,
    e2e_f1,
    ed_accuracy,
    kept_features,
    name_rule,
    out_of_kb_nil,
    refit,
    relinked,
    span_places,
)
from glinker.rerank.nil import NilModel
from glinker.rerank.ranker import FeatureReranker

logger = logging.getLogger(__name__)


@dataclass
class UnseenResult:
    """One benchmark no fit saw: the packaged models, the refit, and the refit ranker with the packaged NIL
    model (which of the two moved the figure)."""

    name: str
    documents: int
    ed_packaged: float
    ed_refit: float
    e2e_packaged: float
    e2e_refit: float
    e2e_refit_ranker_packaged_nil: float
    out_of_kb_mentions: int
    out_of_kb_nil_packaged: float | None
    out_of_kb_nil_refit: float | None
    nil_threshold: float


def check_unseen(pipeline, fitted: Mapping[str, Sequence[GoldDocument]], unseen: Mapping[str, Sequence[GoldDocument]],
                 cache: str | os.PathLike[str] | None = None, params: dict | None = None,
                 features: Sequence[str] | None = None, nil_missing: bool = False,
                 nil_method: str = "held_out", balance: float = 0.0, nil_objective: str = "in_kb",
                 nil_deleted: float = 0.0, deleted_exclude: set[str] | None = None,
                 nil_smooth: int = 0) -> list[UnseenResult]:
    """Refit on every ``fitted`` benchmark (:func:`glinker.rerank.leave_one_out.refit`, same options) and score
    the refit and the configured models on each ``unseen`` one."""
    reranker = pipeline.reranker
    if not isinstance(reranker, FeatureReranker) or reranker.booster is None or reranker.nil_model is None:
        raise ValueError("the check on unseen benchmarks compares a FeatureReranker with a LambdaMART model and a "
                         "NIL model (reranker=feature) against a refit; the configured reranker has neither")
    overlap = set(fitted) & set(unseen)
    if overlap:
        raise ValueError(f"{sorted(overlap)}: a benchmark the refit is fitted on is not unseen")
    spans, traced = kept_features(pipeline, {**fitted, **unseen}, cache)
    kb_has = kb_membership(pipeline.kb, [d for group in (fitted, unseen) for docs in group.values() for d in docs])
    ranker, booster, threshold = refit({n: spans[n] for n in fitted}, {n: traced[n] for n in fitted}, fitted,
                                       kb_has, params, features, nil_missing, nil_method, balance, nil_objective,
                                       nil_deleted, deleted_exclude, nil_smooth)
    nil = NilModel.from_booster(booster)
    packaged = RankerFit.configured(reranker)
    rule = name_rule(pipeline, spans, traced)  # the pipeline's short-name rule, on both models' links
    out = []
    for n, docs in unseen.items():
        mine, theirs = relinked(traced[n], packaged), relinked(traced[n], ranker)
        w = span_places(n, docs, kb_has, spans[n]) if rule is not None else None
        left_p, total = out_of_kb_nil(docs, mine, kb_has, reranker.nil_model, reranker.nil_threshold, rule)
        left_r, _ = out_of_kb_nil(docs, theirs, kb_has, nil, threshold, rule)
        out.append(UnseenResult(
            n, len(docs), ed_accuracy(spans[n], packaged, rule, w), ed_accuracy(spans[n], ranker, rule, w),
            e2e_f1(docs, mine, kb_has, reranker.nil_model, reranker.nil_threshold, rule),
            e2e_f1(docs, theirs, kb_has, nil, threshold, rule),
            e2e_f1(docs, theirs, kb_has, reranker.nil_model, reranker.nil_threshold, rule), total,
            _share(left_p, total), _share(left_r, total), threshold))
        logger.info("%s: %s", n, out[-1])
    return out
