"""A reranker as a pipeline calls it, keeping what it decided from: how the fitting code sees the features
and NIL-model rows of a pipeline's own run without flags on the reranker."""

from __future__ import annotations

import copy

from glinker.rerank.ranker import FeatureReranker, RerankTrace
from glinker.types import LinkDecision


class TracingReranker:
    """A :class:`FeatureReranker` as a pipeline calls it, keeping the :class:`RerankTrace` of each call in order."""

    def __init__(self, reranker: FeatureReranker) -> None:
        self.reranker = reranker
        self.traces: list[RerankTrace] = []

    def rerank(self, mentions, candidates, contexts, voters=None) -> list[LinkDecision]:
        return self._kept(self.reranker.trace(mentions, candidates, contexts, voters))

    def rerank_spans(self, mentions, candidates, contexts) -> list[LinkDecision]:
        return self._kept(self.reranker.trace(mentions, candidates, contexts, given_spans=True))

    def _kept(self, trace: RerankTrace) -> list[LinkDecision]:
        self.traces.append(trace)
        return trace.decisions


def traced_pipeline(pipeline, reranker: FeatureReranker):
    """A copy of ``pipeline`` that reranks with ``reranker`` through a :class:`TracingReranker`, and that tracing;
    ``pipeline`` itself is left as it is."""
    tracing = TracingReranker(reranker)
    traced = copy.copy(pipeline)
    traced.reranker = tracing
    return traced, tracing
