"""The packaged reranker's parameters: what :class:`glinker.rerank.FeatureReranker` uses unless told otherwise.

:meth:`glinker.rerank.FeatureReranker.packaged` builds the reranker with them; the Hydra config
(glinker/conf/reranker/feature.yaml), and through it :func:`glinker.load`, name that
constructor, so a refit changes this file and the model files in glinker/resources/reranker, nothing else.

How they were fitted (every choice below by leave-one-benchmark-out validation, :mod:`glinker.rerank.leave_one_out`;
BENCHMARKS.md):

- The ranker: gradient-boosted trees (LightGBM LambdaMART, ``lambdamart.txt``) learned on every document of the
  nine shared dev benchmarks of :data:`glinker.rerank.fit.FIT_BENCHMARKS` (aida-conll-dev, oke-2016-train, msnbc,
  spotlight, oke-2015-train, derczynski, news-fair, wiki-fair, istex_train; default model, alias ∪ name ∪ demonym
  candidates, arnold KB), without the span·entity embedding features
  (``dense``, ``dense_gap``, ``dense_rank``) and ``context_names``, which leave-one-out did not keep.
- The NIL decision: a LightGBM classifier (``nil.txt``, :class:`glinker.rerank.nil.NilModel`) judges whether the
  best candidate is a right link from the ranker's probabilities, that candidate's features and the mention's
  own. Its rows are every benchmark's detected mentions, split in two folds of documents, each fold ranked by a
  ranker fitted on the other (scores as on new documents of known kinds); detected mentions of gold entities the
  KB lacks count as wrong links, and so do the mentions of the other gold entities once more, with that entity
  deleted from their candidates (:mod:`glinker.rerank.deletion`: what a mention looks like when a KB lacks a
  well-known entity whose namesakes it holds; half of the 1,000 entities ``benchmarks/bench_out_of_kb.py`` deletes,
  every other line of its list, are left out, so its figure on them is measured on deletions the fit never saw);
  its threshold is the one with the best
  mean per-benchmark end-to-end F1 over probabilities out of fold (:mod:`glinker.rerank.nil_fit`, ``two_fold``),
  where a link on a gold mention whose entity the KB lacks counts as wrong (``with_nil``). Both from the kept
  features of a leave-one-out run::

    python benchmarks/bench_el.py kb_dir=kb/arnold loo=only systems=[3] loo_cache=runs/loo_kept.json
    python benchmarks/bench_out_of_kb.py kb_dir=kb/arnold   # writes runs/out_of_kb/deleted.txt
    awk 'NR%2==1' runs/out_of_kb/deleted.txt > runs/out_of_kb/deleted_half.txt
    python scripts/fit_loo.py cache=runs/loo_kept.json drop=[context_names,dense,dense_gap,dense_rank] \
      nil_missing=true nil_method=two_fold nil_objective=with_nil nil_deleted=1.0 \
      nil_deleted_exclude=runs/out_of_kb/deleted_half.txt out=glinker/resources/reranker

- The conservative option is the same NIL model at a higher threshold than its 0.25
  (``reranker.nil_threshold=0.5``): more mentions of entities the KB lacks left NIL, fewer links overall
  (BENCHMARKS.md).
- The linear weights below (a listwise fit, ``scripts/fit_reranker.py``) score the coherence features' first
  pass, and every candidate with ``reranker.model=null``.
"""

from __future__ import annotations

# Learned with scripts/fit_reranker.py on 70 % of the shared dev benchmarks' documents (default
# model, alias ∪ name ∪ demonym candidates, arnold KB; listwise fit, NIL threshold tuned end to end on
# the other 30 %). With the packaged trees they only drive coherence's first pass.
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
