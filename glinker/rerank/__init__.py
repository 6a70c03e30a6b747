"""Reranking and the NIL decision: per-candidate features, a learned ranker, a learned NIL model.

:class:`FeatureReranker` (``ranker``) computes the features (``features``, ``feature_names``), scores them
with the packaged LightGBM model or linear weights (``boosters``, ``defaults``), and lets the NIL model
(``nil``) decide whether the best candidate is a link; ``fit`` learns all three from gold mentions.
"""
from __future__ import annotations

from glinker.rerank.feature_names import FEATURES
from glinker.rerank.ranker import FeatureReranker, NoReranker, Reranker, load_ranker

__all__ = ["FEATURES", "FeatureReranker", "NoReranker", "Reranker", "load_ranker"]
