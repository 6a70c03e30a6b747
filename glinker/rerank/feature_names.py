"""Names of the reranker's per-candidate features, in the order of its rows.

A model reads the features it was fitted on, by name: any subset of these, so a feature added here
leaves models fitted before it working (and a feature can be left out of a fit to measure it).

Shared by the ranker (:mod:`glinker.rerank.ranker`), which computes them, and the NIL model
(:mod:`glinker.rerank.nil`), which reads the best candidate's.
"""

from __future__ import annotations

FEATURES = ("dense", "dense_gap", "dense_rank", "label_match", "alias_match", "prior", "log_popularity",
            "context_sim", "name_sim", "name_gap", "name_rank", "string_sim", "token_overlap", "type_score",
            "type_gap", "demonym", "coherence", "coherence_max", "context_names")
# Features computed from the other mentions' first-pass rankings (glinker.rerank.coherence).
DOCUMENT_FEATURES = ("coherence", "coherence_max")
# Features that cost an encoder pass or a KB scan per batch; computed only when a model reads them (or, without a
# ranker model, a linear weight does). The others come with the candidates almost free.
COSTLY_FEATURES = ("context_sim", "type_score", "type_gap", "context_names")
