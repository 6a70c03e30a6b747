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
        # per call, per mention: the candidates' QIDs in the order the trace's feature rows follow
        self.candidate_qids: list[list[list[str]]] = []

    def rerank(self, mentions, candidates, contexts, voters=None) -> list[LinkDecision]:
        return self._kept(self.reranker.trace(mentions, candidates, contexts, voters), candidates)

    def rerank_spans(self, mentions, candidates, contexts) -> list[LinkDecision]:
        return self._kept(self.reranker.trace(mentions, candidates, contexts, given_spans=True), candidates)

    def clear(self) -> None:
        """Forget the calls kept so far."""
        self.traces.clear()
        self.candidate_qids.clear()

    def _kept(self, trace: RerankTrace, candidates) -> list[LinkDecision]:
        self.traces.append(trace)
        self.candidate_qids.append([[c.qid for c in cands] for cands in candidates])
        return trace.decisions


def traced_pipeline(pipeline, reranker: FeatureReranker):
    """A copy of ``pipeline`` that reranks with ``reranker`` through a :class:`TracingReranker`, and that tracing;
    ``pipeline`` itself is left as it is."""
    tracing = TracingReranker(reranker)
    traced = copy.copy(pipeline)
    traced.reranker = tracing
    return traced, tracing
