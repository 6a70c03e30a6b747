"""Hydra app of ``python -m glinker.evaluate el`` (config ``glinker/conf/evaluate_el.yaml``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from glinker.cli import reports_errors
from glinker.config import CONF_DIR
from glinker.errors import GlinkerError
from glinker.interrupts import held
from glinker.settings import resolve_data_path

logger = logging.getLogger("glinker.evaluate.el")


def run_el(cfg: DictConfig) -> dict:
    """Evaluate the configured pipeline on one or more benchmarks; returns the metrics dict."""
    from glinker.config import build_pipeline
    from glinker.evaluate.el import evaluate_e2e, evaluate_ed, load_benchmark

    benches = cfg.benchmark if OmegaConf.is_list(cfg.benchmark) else [cfg.benchmark]
    if cfg.mode not in ("ed", "e2e"):
        raise GlinkerError(f"mode must be ed or e2e, got {cfg.mode!r}")
    pipeline = build_pipeline(cfg)
    results = {}
    all_errors = []
    for bench in benches:
        path = resolve_data_path(str(bench))
        docs = load_benchmark(path)
        stem = path.name.replace(".benchmark.jsonl", "")
        # "-no-coref" variants hold the same documents in the same order: the same split applies
        heldout = cfg.get("heldout_only") or ()
        if stem in heldout or stem.removesuffix("-no-coref") in heldout:
            from glinker.rerank.fit import split_documents

            docs = split_documents(docs)[1]  # the documents the reranker fit never saw
        if cfg.max_docs:
            docs = docs[: int(cfg.max_docs)]
        started = time.time()
        fn = evaluate_ed if cfg.mode == "ed" else evaluate_e2e
        scored = fn(pipeline, docs, in_kb=cfg.in_kb, errors=bool(cfg.errors))
        elapsed = time.time() - started
        m = scored.metrics()
        m.update({"documents": len(docs), "seconds": round(elapsed, 1),
                  "docs_per_s": round(len(docs) / max(elapsed, 1e-9), 2)})
        results[path.name.replace(".benchmark.jsonl", "")] = m
        for e in scored.errors:
            e["benchmark"] = path.name
        all_errors.extend(scored.errors)
        main = m.get("accuracy", m["f1"]) if cfg.mode == "ed" else m["f1"]
        logger.info("%s [%s]: %s %.2f  P %.2f R %.2f F1 %.2f  (left out: %s)  %.1f docs/s", path.name, cfg.mode,
                    "accuracy" if cfg.mode == "ed" else "F1", main, m["precision"], m["recall"], m["f1"],
                    m["left_out"], m["docs_per_s"])
    if cfg.errors:
        with held():  # a stop signal does not cut the errors file in half
            Path(cfg.errors).write_text("".join(json.dumps(e) + "\n" for e in all_errors),
                                        encoding="utf-8")
    key = "accuracy" if cfg.mode == "ed" else "f1"
    out = {"mode": cfg.mode, "in_kb": cfg.in_kb, "kb": str(pipeline.kb.path),
           "retriever": cfg.retriever._target_, "reranker": cfg.reranker._target_, "results": results}
    if len(results) > 1:
        out[f"mean_{key}"] = round(sum(r.get(key, 0.0) for r in results.values()) / len(results), 2)
    return out


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate_el", version_base="1.3")
@reports_errors
def el_app(cfg: DictConfig) -> None:
    """Entry point for ``python -m glinker.evaluate el``."""
    out = run_el(cfg)
    sys.stdout.write(json.dumps(out) + "\n")
