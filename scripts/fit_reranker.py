"""Learn the feature reranker's weights and NIL threshold on the shared dev benchmarks.

    python scripts/fit_reranker.py kb_dir=kb/arnold [benchmarks=[...]] [write=glinker/conf/reranker/learned.yaml]
        [features=[name,...]] [cache=examples.json] [ranker=linear|lambdamart]

Documents of each benchmark are split 70/30 (fixed seed): weights are fitted on
the 70 %, the NIL threshold and the reported scores come from the held-out 30 %.
``features`` fits a subset of the reranker's features; ``cache`` stores the collected
candidate features (JSON) and reuses them on the next run with the same file.
``e2e=true`` then links the held-out documents end to end with the fitted weights and
picks the NIL threshold (and a detector-score floor) for the best strong-match F1 there
(``e2e_average=macro``, the default: the mean of the per-benchmark F1s, as the tables report it;
``micro``: the pooled F1, which the largest benchmark dominates); that threshold is the one written.
``ranker=lambdamart`` adds gradient-boosted trees (LightGBM)
that score the candidates; the model is written as text next to the ``write`` YAML
(``<write stem>.lambdamart.txt``, or ``model_out=PATH``; the default ships as
``model_out=glinker/resources/reranker/lambdamart.txt``) and the YAML points to it.
``nil_model=true`` (with ``e2e=true``) also fits the NIL classifier (:class:`glinker.rerank.nil.NilModel`): the
fit documents are split in two folds, each fold is linked end to end by a ranker fitted on the other
fold only (so the classifier sees the ranker's scores as they are on unseen text), and the classifier
learns from those detected mentions whether the best candidate is right; it is written to ``nil_out``
(default: ``nil.txt`` next to the ranker model), the NIL threshold is then tuned on its probability,
and the report also gives the held-out end-to-end figures with the ranker's probability alone.
``refit_ranker=false`` keeps the configured ranker (``reranker.*``: weights, trees, calibration) as the
final one and writes it unchanged: only the NIL model and threshold are new (the folds' rankers are
still fitted, on half the fit documents each, for the cross-fitting).
Any other ``key=value`` is a ``glinker.link`` config override (detector, retriever…).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glinker.config import CONF_DIR  # noqa: E402
from glinker.settings import data_dir  # noqa: E402

OPTIONS = ("benchmarks", "write", "l2", "features", "cache", "e2e", "ranker", "model_out", "e2e_average", "nil_model",
           "nil_out", "refit_ranker")


def context_options(cfg) -> dict:
    """The configured reranker's context-window settings, kept in what is fitted and written."""
    node = cfg.get("reranker") or {}
    return {k: node[k] for k in ("context_chars", "context_windows") if k in node}


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    from glinker.config import build_pipeline
    from glinker.evaluate.el import kb_membership, load_benchmark
    from glinker.rerank.fit import (
        FIT_BENCHMARKS,
        collect,
        fit_reranker,
        load_examples,
        save_examples,
        select_features,
        split_documents,
    )
    from glinker.rerank.fit_e2e import collect_nil, link_for_tuning, tune_e2e
    from glinker.rerank.nil import fit_nil_model
    from glinker.rerank.ranker import FEATURES, FeatureReranker

    opts = dict(a.split("=", 1) for a in argv if a.split("=", 1)[0] in OPTIONS)
    overrides = [a for a in argv if a.split("=", 1)[0] not in opts]
    names = opts.get("benchmarks", ",".join(FIT_BENCHMARKS)).strip("[]").split(",")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=overrides)
    if opts.get("nil_model", "false").lower() == "true" and opts.get("e2e", "false").lower() != "true":
        raise SystemExit("nil_model=true learns from end-to-end linking: add e2e=true")
    cache = Path(opts["cache"]) if "cache" in opts else None
    splits = {name: split_documents(load_benchmark(data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl"))
              for name in names}
    pipeline = None
    if cache is not None and cache.is_file():
        train, held, fold = load_examples(cache)
    else:
        pipeline = build_pipeline(cfg)
        train, held, fold = [], [], []
        for name in names:
            a, b = splits[name]
            for k in (0, 1):  # two folds of the fit documents (the NIL classifier is cross-fitted on them)
                part = collect(pipeline, a[k::2])
                train += part
                fold += [k] * len(part)
            held += collect(pipeline, b)
            logging.info("%s: %d/%d documents, %d/%d mentions with candidates", name, len(a), len(b), len(train),
                         len(held))
        if cache is not None:
            save_examples(cache, train, held, fold)
    chosen = opts["features"].strip("[]").split(",") if "features" in opts else list(FEATURES)
    cols = [FEATURES.index(f) for f in chosen]
    train, held = (select_features(part, cols) for part in (train, held))
    ranker = opts.get("ranker", "linear")
    if ranker == "lambdamart" and chosen != list(FEATURES):
        raise SystemExit("ranker=lambdamart scores every feature: drop features=...")
    report = fit_reranker(train, held, l2=float(opts.get("l2", 1.0)), features=chosen, ranker=ranker)
    report["benchmarks"] = names
    booster = report.pop("booster", None)
    model_file = None
    if opts.get("refit_ranker", "true").lower() == "false":
        # keep the configured ranker (its weights, trees and calibration): only the NIL decision is fitted
        report["fitted_not_kept"] = {k: report.pop(k) for k in ("weights", "bias", "model_scale", "model_bias",
                                                                 "heldout", "heldout_no_nil", "heldout_no_nil_linear")
                                     if k in report}
        pipeline = pipeline or build_pipeline(cfg)
        built = pipeline.reranker
        report.update(weights=dict(built.weights), bias=built.bias, span_nil_threshold=built.span_nil_threshold)
        if built.model_path:
            model_file = Path(built.model_path)
            report.update(model_scale=built.model_scale, model_bias=built.model_bias)
        booster = None
    if booster is not None:
        default_out = Path(opts["write"]).with_suffix(".lambdamart.txt") if "write" in opts else \
            Path("runs/reranker.lambdamart.txt")
        model_file = Path(opts.get("model_out") or default_out)
        model_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = model_file.with_suffix(".tmp")
        booster.save_model(str(tmp))
        tmp.replace(model_file)
        report["model"] = str(model_file)
    nil_file = None
    if opts.get("e2e", "false").lower() == "true":
        pipeline = pipeline or build_pipeline(cfg)
        held_docs = [d for name in names for d in splits[name][1]]
        groups = [name for name in names for _ in splits[name][1]]
        macro = opts.get("e2e_average", "macro") == "macro"
        kb_has = kb_membership(pipeline.kb, held_docs)

        def tuned(reranker) -> dict:
            pipeline.reranker = reranker
            linked = link_for_tuning(pipeline, held_docs)
            out = tune_e2e(held_docs, linked, kb_has, groups=groups if macro else None)
            if macro:  # the pooled figure too, at the chosen thresholds
                out["pooled"] = tune_e2e(held_docs, linked, kb_has, link_grid=(out["nil_threshold"],),
                                         mention_grid=(out["min_mention_score"],))["e2e"]
            return out

        def reranker_for(rep: dict, model_path, nil_path=None) -> FeatureReranker:
            extra = {"model": str(Path(model_path).resolve()), "model_scale": rep["model_scale"],
                     "model_bias": rep["model_bias"]} if model_path else {}
            return FeatureReranker(pipeline.kb, weights=rep["weights"], bias=rep["bias"],
                                   nil_threshold=rep["nil_threshold"], detector=pipeline.detector,
                                   nil_model=nil_path, **context_options(cfg), **extra)

        if opts.get("nil_model", "false").lower() == "true":
            nil_rows, nil_labels = [], []
            with tempfile.TemporaryDirectory() as scratch:  # the folds' rankers are not kept
                for k in (0, 1):  # cross-fitting: fold k is scored by a ranker fitted on the other fold
                    rep_k = fit_reranker([ex for ex, f in zip(train, fold) if f != k], held,
                                         l2=float(opts.get("l2", 1.0)), features=chosen, ranker=ranker)
                    booster_k = rep_k.pop("booster", None)
                    fold_model = None
                    if booster_k is not None:
                        fold_model = Path(scratch) / f"fold{k}.lambdamart.txt"
                        booster_k.save_model(str(fold_model))
                    pipeline.reranker = reranker_for(rep_k, fold_model)
                    docs_k = [d for name in names for d in splits[name][0][k::2]]
                    rows, labels, _ = collect_nil(pipeline, docs_k, kb_membership(pipeline.kb, docs_k))
                    nil_rows += rows
                    nil_labels += labels
                    logging.info("NIL rows from fold %d: %d (%d right links)", k, len(rows), int(sum(labels)))
            nil_booster = fit_nil_model(nil_rows, nil_labels)
            base = model_file if model_file is not None else Path(opts.get("write", "runs/reranker.yaml"))
            nil_file = Path(opts.get("nil_out") or base.with_name("nil.txt"))
            nil_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = nil_file.with_suffix(".tmp")
            nil_booster.save_model(str(tmp))
            tmp.replace(nil_file)
            report["nil_model"] = str(nil_file)
            report["nil_train"] = {"mentions": len(nil_rows), "right_links": int(sum(nil_labels))}
            report["e2e_tuning_ranker_prob"] = tuned(reranker_for(report, model_file))
        report["e2e_tuning"] = tuned(reranker_for(report, model_file, nil_file))
        report["ed_nil_threshold"] = report["nil_threshold"]
        report.setdefault("span_nil_threshold", report["nil_threshold"])  # given spans: the gold-mention fit's
        report["nil_threshold"] = report["e2e_tuning"]["nil_threshold"]
    print(json.dumps(report))
    # each model carries its calibration and threshold beside it (glinker.rerank.boosters.calibration)
    if model_file is not None and opts.get("refit_ranker", "true").lower() != "false":
        write_json(model_file.with_suffix(".json"), {"scale": report["model_scale"], "bias": report["model_bias"],
                                                     "span_nil_threshold": report.get("span_nil_threshold",
                                                                                      report["nil_threshold"])})
    if nil_file is not None:
        write_json(nil_file.with_suffix(".json"), {"threshold": report["nil_threshold"]})
    if "write" in opts:
        lines = ["# Learned by: python scripts/fit_reranker.py " + " ".join(argv),
                 *([f"# held-out InKB (gold mentions): {json.dumps({k: round(v, 2) for k, v in report['heldout'].items()})}"]  # noqa: E501
                   if "heldout" in report else ["# ranker kept from the configuration (refit_ranker=false)"]),
                 *([f"# held-out end to end (NIL threshold tuned there): {json.dumps(report['e2e_tuning'])}"]
                   if "e2e_tuning" in report else []),
                 "_target_: glinker.rerank.FeatureReranker", "weights:"]
        lines += [f"  {k}: {v}" for k, v in report["weights"].items()]
        lines += [f"bias: {report['bias']}", f"nil_threshold: {report['nil_threshold']}"]
        if model_file is not None:
            from glinker.rerank.boosters import RANKER_DIR

            where = model_file.resolve()
            name = where.name if where.parent == RANKER_DIR else str(where)  # packaged models by name
            lines += [f"model: {name}", f"model_scale: {report['model_scale']}", f"model_bias: {report['model_bias']}"]
        if nil_file is not None:
            from glinker.rerank.boosters import RANKER_DIR

            where = nil_file.resolve()
            lines += [f"nil_model: {where.name if where.parent == RANKER_DIR else str(where)}",
                      f"span_nil_threshold: {report['span_nil_threshold']}"]
        lines += [f"{k}: {v}" for k, v in context_options(cfg).items()]
        out = Path(opts["write"])
        tmp = out.with_suffix(out.suffix + ".tmp")  # atomic: a failed write leaves the old config
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(out)


def write_json(path: Path, values: dict) -> None:
    """Write ``values`` to ``path`` atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    main(sys.argv[1:])
