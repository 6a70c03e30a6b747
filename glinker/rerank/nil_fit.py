"""How the NIL classifier and its threshold are fitted from kept features, for a set of benchmarks.

The classifier learns, from detected mentions, whether the ranker's best candidate is right. Its rows must
look like the ranker's scores on text the ranker did not see, and its threshold must be chosen on
probabilities the classifier did not fit, or both are too confident on new text. The ways compared
(``method``):

- ``held_out``: each benchmark's mentions ranked by a ranker fitted without that benchmark; the threshold
  tuned on the classifier's own training rows (in-sample).
- ``held_out_oof``: the same rows; the threshold tuned on out-of-fold probabilities: each benchmark's
  mentions scored by a classifier fitted without that benchmark.
- ``two_fold``: every benchmark's documents split in two folds; each fold's mentions ranked by a ranker
  fitted on the other fold's gold spans (the same benchmarks, other documents: in-domain scores, as the
  packaged models were fitted); the threshold tuned out of fold (each fold scored by a classifier fitted on
  the other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from glinker.evaluate.el import GoldDocument, ed_scope
from glinker.rerank.deletion import deleted_mentions
from glinker.rerank.fit_e2e import nil_training_rows, tune_e2e
from glinker.rerank.nil import MENTION_FEATURES, NilModel, fit_nil_model

NIL_METHODS = ("held_out", "held_out_oof", "two_fold")
NIL_OBJECTIVES = ("in_kb", "with_nil")


def nil_inputs(features: Sequence[str] | None) -> list[str] | None:
    """The NIL classifier's inputs when the ranker reads only ``features``: the mention's own, and the
    best candidate's of those."""
    return None if features is None else [*MENTION_FEATURES, *(f"top_{n}" for n in features)]


def span_owners(docs: Sequence[GoldDocument], kb_has) -> list[int]:
    """Per kept gold span (in :func:`glinker.rerank.leave_one_out.collect_spans` order), its document's index."""
    return [i for i, d in enumerate(docs) for _ in ed_scope(d, kb_has)[0]]


def fit_nil(names: Sequence[str], spans: Mapping[str, list], traced: Mapping[str, list],
            docs: Mapping[str, Sequence[GoldDocument]], kb_has, fit_ranker: Callable, relinked: Callable,
            records: Callable, params: dict | None = None, features: Sequence[str] | None = None,
            nil_missing: bool = False, method: str = "held_out",
            held: Mapping[str, object] | None = None, objective: str = "in_kb",
            deleted: set[str] | None = None, smooth: int = 0) -> tuple[object, float]:
    """The NIL classifier (LightGBM booster) and threshold fitted on benchmarks ``names`` by ``method``.

    ``fit_ranker(spans)`` fits a ranker on gold spans, ``relinked(traced, ranker)`` re-ranks traced mentions
    with it and ``records(traced, nil)`` gives :func:`tune_e2e`'s records (passed in: they live with the
    leave-one-out code that calls this). ``params``: LightGBM settings for the classifier (bagging seeds).
    ``held``: rankers already fitted without each benchmark, used instead of fitting them again.
    ``objective``: the F1 the threshold maximises: ``in_kb`` (links on gold the KB lacks left out, as the
    benchmark tables score) or ``with_nil`` (such links count as wrong: what a user sees).
    ``deleted``: entities whose mentions also teach the classifier as if the KB lacked them
    (:mod:`glinker.rerank.deletion`): each detected mention of one, with that entity among its candidates, gives
    one more row, its candidates without the entity, labelled a wrong link. The threshold is chosen on the
    mentions as they are; ``smooth``: over F1 averaged with that many grid steps on either side
    (:func:`glinker.rerank.fit_e2e.tune_e2e`).
    """
    if objective not in NIL_OBJECTIVES:
        raise ValueError(f"NIL objective {objective!r}: expected one of {', '.join(NIL_OBJECTIVES)}")
    in_kb = objective == "in_kb"
    if method not in NIL_METHODS:
        raise ValueError(f"NIL method {method!r}: expected one of {', '.join(NIL_METHODS)}")
    inputs = nil_inputs(features)

    def fit(parts: Sequence[tuple]) -> NilModel:
        booster = fit_nil_model([r for rows, _ in parts for r in rows], [y for _, ys in parts for y in ys], params,
                                inputs)
        return NilModel.from_booster(booster)

    if method == "two_fold":
        # units: (benchmark, fold) with their documents, ranked by a ranker fitted on the other fold
        units = [(n, k) for n in names for k in (0, 1)]
        owners = {n: span_owners(docs[n], kb_has) for n in names}
        rankers = {k: fit_ranker([s for n in names for s, o in zip(spans[n], owners[n]) if o % 2 != k])
                   for k in (0, 1)}
        unit_docs = {(n, k): docs[n][k::2] for n, k in units}
        own = {(n, k): relinked(traced[n][k::2], rankers[k]) for n, k in units}
        rows = {u: _with_deleted(nil_training_rows(unit_docs[u], own[u], kb_has, nil_missing)[:2],
                                 unit_docs[u], traced[u[0]][u[1]::2], rankers[u[1]], relinked, kb_has, deleted)
                for u in units}
        folds = {k: [u for u in units if u[1] == k] for k in (0, 1)}
        oof = {k: fit([rows[u] for u in folds[1 - k]]) for k in (0, 1)}
        threshold = _tune(units, unit_docs, {u: records(own[u], oof[u[1]]) for u in units}, kb_has,
                          [u[0] for u in units], in_kb, smooth)
        return fit([rows[u] for u in units]).booster, threshold
    if held is None:
        held = {n: fit_ranker([s for o in names if o != n for s in spans[o]]) for n in names}
    own = {n: relinked(traced[n], held[n]) for n in names}
    rows = {n: _with_deleted(nil_training_rows(docs[n], own[n], kb_has, nil_missing)[:2], docs[n], traced[n],
                             held[n], relinked, kb_has, deleted) for n in names}
    nil = fit([rows[n] for n in names])
    if method == "held_out":
        scored = {n: records(own[n], nil) for n in names}
    else:
        scored = {n: records(own[n], fit([rows[o] for o in names if o != n])) for n in names}
    return nil.booster, _tune(names, docs, scored, kb_has, list(names), in_kb, smooth)


def _with_deleted(rows: tuple[list, list], docs: Sequence[GoldDocument], traced: Sequence, ranker, relinked: Callable,
                  kb_has, deleted: set[str] | None) -> tuple[list, list]:
    """``rows`` (rows, labels) and, for ``deleted`` entities, the rows of their mentions without them (wrong links)."""
    if not deleted:
        return rows
    from glinker.resolution.coref import is_pronoun

    gone = relinked([deleted_mentions(d, ms, deleted, kb_has, changed_only=True) for d, ms in zip(docs, traced)],
                    ranker)
    extra = [m.row for doc in gone for m in doc if m.row is not None and not m.ruled_out and not is_pronoun(m.text)]
    return rows[0] + extra, rows[1] + [0.0] * len(extra)


def _tune(units: Sequence, docs: Mapping, scored: Mapping, kb_has, groups: Sequence[str], in_kb: bool = True,
          smooth: int = 0) -> float:
    """The NIL threshold for the best mean per-benchmark e2e F1 over the units' scored records."""
    all_docs = [d for u in units for d in docs[u]]
    all_records = [r for u in units for r in scored[u]]
    doc_groups = [g for u, g in zip(units, groups) for _ in docs[u]]
    return float(tune_e2e(all_docs, all_records, kb_has, mention_grid=(0.0,), groups=doc_groups,
                          in_kb=in_kb, smooth=smooth)["nil_threshold"])

