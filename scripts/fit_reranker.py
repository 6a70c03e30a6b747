"""Learn the feature reranker's weights and NIL threshold on the shared dev benchmarks.

    python scripts/fit_reranker.py kb_dir=kb/arnold [benchmarks=[...]] [write=conf/reranker/learned.yaml]
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
Any other ``key=value`` is a ``glinker.link`` config override (detector, retriever…).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glinker.config import CONF_DIR  # noqa: E402
from glinker.settings import data_dir  # noqa: E402

OPTIONS = ("benchmarks", "write", "l2", "features", "cache", "e2e", "ranker", "model_out", "e2e_average")


def context_options(cfg) -> dict:
    """The configured reranker's context-window settings, kept in what is fitted and written."""
    node = cfg.get("reranker") or {}
    return {k: node[k] for k in ("context_chars", "context_windows") if k in node}


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    from glinker.evaluate.el import kb_membership, load_benchmark
    from glinker.link import build_pipeline
    from glinker.rerank import FEATURES, FeatureReranker
    from glinker.rerank_fit import (
        FIT_BENCHMARKS,
        collect,
        fit_reranker,
        link_for_tuning,
        load_examples,
        save_examples,
        select_features,
        split_documents,
        tune_e2e,
    )

    opts = dict(a.split("=", 1) for a in argv if a.split("=", 1)[0] in OPTIONS)
    overrides = [a for a in argv if a.split("=", 1)[0] not in opts]
    names = opts.get("benchmarks", ",".join(FIT_BENCHMARKS)).strip("[]").split(",")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=overrides)
    cache = Path(opts["cache"]) if "cache" in opts else None
    splits = {name: split_documents(load_benchmark(data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl"))
              for name in names}
    pipeline = None
    if cache is not None and cache.is_file():
        train, held = load_examples(cache)
    else:
        pipeline = build_pipeline(cfg)
        train, held = [], []
        for name in names:
            a, b = splits[name]
            train += collect(pipeline, a)
            held += collect(pipeline, b)
            logging.info("%s: %d/%d documents, %d/%d mentions with candidates", name, len(a), len(b), len(train),
                         len(held))
        if cache is not None:
            save_examples(cache, train, held)
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
    if booster is not None:
        default_out = Path(opts["write"]).with_suffix(".lambdamart.txt") if "write" in opts else \
            Path("runs/reranker.lambdamart.txt")
        model_file = Path(opts.get("model_out") or default_out)
        model_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = model_file.with_suffix(".tmp")
        booster.save_model(str(tmp))
        tmp.replace(model_file)
        report["model"] = str(model_file)
    model_opts = {"model": str(model_file.resolve()), "model_scale": report["model_scale"],
                  "model_bias": report["model_bias"]} if model_file else {}
    if opts.get("e2e", "false").lower() == "true":
        pipeline = pipeline or build_pipeline(cfg)
        pipeline.reranker = FeatureReranker(pipeline.kb, weights=report["weights"], bias=report["bias"],
                                            nil_threshold=report["nil_threshold"], detector=pipeline.detector,
                                            **context_options(cfg), **model_opts)
        held_docs = [d for name in names for d in splits[name][1]]
        groups = [name for name in names for _ in splits[name][1]]
        linked = link_for_tuning(pipeline, held_docs)
        macro = opts.get("e2e_average", "macro") == "macro"
        report["e2e_tuning"] = tune_e2e(held_docs, linked, kb_membership(pipeline.kb, held_docs),
                                        groups=groups if macro else None)
        if macro:  # the pooled figure too, at the chosen thresholds
            t, u = report["e2e_tuning"]["nil_threshold"], report["e2e_tuning"]["min_mention_score"]
            report["e2e_tuning"]["pooled"] = tune_e2e(held_docs, linked, kb_membership(pipeline.kb, held_docs),
                                                      link_grid=(t,), mention_grid=(u,))["e2e"]
        report["ed_nil_threshold"] = report["nil_threshold"]
        report["nil_threshold"] = report["e2e_tuning"]["nil_threshold"]
    print(json.dumps(report))
    if "write" in opts:
        lines = ["# Learned by: python scripts/fit_reranker.py " + " ".join(argv),
                 f"# held-out InKB (gold mentions): {json.dumps({k: round(v, 2) for k, v in report['heldout'].items()})}",  # noqa: E501
                 *([f"# held-out end to end (NIL threshold tuned there): {json.dumps(report['e2e_tuning'])}"]
                   if "e2e_tuning" in report else []),
                 "_target_: glinker.rerank.FeatureReranker", "weights:"]
        lines += [f"  {k}: {v}" for k, v in report["weights"].items()]
        lines += [f"bias: {report['bias']}", f"nil_threshold: {report['nil_threshold']}"]
        if model_file is not None:
            from glinker.rerank import RANKER_DIR

            where = model_file.resolve()
            name = where.name if where.parent == RANKER_DIR else str(where)  # packaged models by name
            lines += [f"model: {name}", f"model_scale: {report['model_scale']}", f"model_bias: {report['model_bias']}"]
        lines += [f"{k}: {v}" for k, v in context_options(cfg).items()]
        out = Path(opts["write"])
        tmp = out.with_suffix(out.suffix + ".tmp")  # atomic: a failed write leaves the old config
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(out)


if __name__ == "__main__":
    main(sys.argv[1:])
