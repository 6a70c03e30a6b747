"""The packaged reranker's parameters: what :class:`glinker.rerank.FeatureReranker` uses unless told otherwise.

:meth:`glinker.rerank.FeatureReranker.packaged` builds the reranker with them; the Hydra config
(glinker/conf/reranker/feature.yaml), and through it :func:`glinker.load`, name that
constructor, so a refit changes this file and the model files in glinker/resources/reranker, nothing else.

How they were fitted:

- The ranker: gradient-boosted trees (LightGBM LambdaMART, ``lambdamart.txt``) learned on 70 % of the documents
  of the shared dev benchmarks (aida-conll-dev, oke-2016-train, msnbc, spotlight, oke-2015-train, derczynski,
  news-fair) with the default model, alias ∪ name ∪ demonym candidates and the arnold KB; the linear weights
  (listwise fit) drive the first pass of the coherence features::

    python scripts/fit_reranker.py kb_dir=kb/arnold e2e=true detector.threshold=0.3 ranker=lambdamart \
      write=runs/feature.yaml model_out=glinker/resources/reranker/lambdamart.txt

  (add ``cache=FILE`` to keep the collected candidate features; ``ranker=linear``: weights only; add
  ``reranker.model=null`` when the feature list changed since the packaged model was fitted). Held-out
  disambiguation accuracy (gold spans, best candidate, no NIL): trees 88.9, linear 85.7.
- The NIL decision: a LightGBM classifier (``nil.txt``, :class:`glinker.rerank.nil.NilModel`) judges whether the
  best candidate is a right link from the ranker's probabilities, that candidate's features and the mention's
  own; cross-fitted on detected mentions of the same 70 % (two folds, each scored by a ranker fitted on the
  other); its threshold tuned for the mean of the per-benchmark end-to-end F1s on the other 30 %::

    python scripts/fit_reranker.py kb_dir=kb/arnold e2e=true detector.threshold=0.3 ranker=lambdamart \
      nil_model=true refit_ranker=false nil_out=glinker/resources/reranker/nil.txt write=runs/feature.yaml

  Held-out end to end, NIL model at 0.4: mean per-benchmark F1 58.13 (pooled P 83.99 / R 70.36 / F1 76.57);
  the ranker's own probability at 0.1 instead: 57.49 (pooled F1 75.36). A refit reproduces the model to within
  float noise and the held-out mean to within ~0.8 points.
"""

from __future__ import annotations

# Learned with scripts/fit_reranker.py on 70 % of the shared dev benchmarks' documents (default
# model, alias ∪ name ∪ demonym candidates, arnold KB; listwise fit, NIL threshold tuned end to end on
# the other 30 %).
DEFAULT_WEIGHTS: dict[str, float] = {
    "dense": 0.0705,
    "dense_gap": 0.0705,
    "dense_rank": 0.3833,
    "label_match": 0.39,
    "alias_match": -0.4286,
    "prior": 4.2333,
    "log_popularity": -0.0678,
    "context_sim": 2.6492,
    "name_sim": 2.5449,
    "name_gap": 2.5449,
    "name_rank": 0.0646,
    "string_sim": 4.8993,
    "token_overlap": 1.002,
    "type_score": 2.7477,
    "type_gap": -0.6533,
    "demonym": 5.2201,
    "coherence": 1.8303,
    "coherence_max": 3.2083,
}
DEFAULT_BIAS = -12.1894
DEFAULT_NIL_THRESHOLD = 0.1  # for the linear weights alone
# The packaged models (glinker/resources/reranker). Each carries its calibration and threshold in the JSON
# file beside it (lambdamart.json: scale, bias, span_nil_threshold; nil.json: threshold), written by the fit.
DEFAULT_MODEL = "lambdamart.txt"
DEFAULT_NIL_MODEL = "nil.txt"
