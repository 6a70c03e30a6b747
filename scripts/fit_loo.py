"""Refit the packaged ranker and NIL model the way leave-one-benchmark-out validated them.

    python benchmarks/bench_el.py kb_dir=kb/arnold loo=only systems=[3] loo_cache=runs/loo_kept.json
    python scripts/fit_loo.py kb_dir=kb/arnold cache=runs/loo_kept.json [params={"num_leaves":3}] \
        [drop=[context_names]] [nil_missing=true] [nil_method=held_out|held_out_oof|two_fold] [balance=0.5] \
        [nil_objective=with_nil] [nil_deleted=0.3 [nil_deleted_exclude=runs/out_of_kb/deleted.txt]]
        [out=glinker/resources/reranker]

Reads the features ``bench_el.py loo_cache=`` kept (every gold span and detected mention of the fitted
benchmarks, linked by the configured pipeline) and fits, with :func:`glinker.rerank.leave_one_out.refit`:
the LambdaMART ranker on every benchmark's gold spans, the NIL classifier on every benchmark's detected
mentions as ranked by the ranker fitted without that benchmark, and the NIL threshold for the best mean
e2e F1 over those links. Writes ``lambdamart.txt`` / ``lambdamart.json`` (calibration; the span NIL
threshold is kept from the file it replaces) and ``nil.txt`` / ``nil.json`` into ``out``, each atomically.
``drop``: features the models leave out (as ``bench_el.py loo_drop=`` validated them); ``nil_missing``: the NIL
classifier also learns from detected mentions of gold entities the KB lacks (``bench_el.py loo_nil_missing=``);
``nil_method``: how the NIL classifier's rows are ranked and its threshold chosen (:mod:`glinker.rerank.nil_fit`;
``bench_el.py loo_nil_method=``); ``balance``: benchmarks weighted in the ranker fits (``bench_el.py
loo_balance=``); ``nil_objective=with_nil``: the NIL threshold for the F1 that counts links on gold the KB lacks
as wrong (``bench_el.py loo_nil_objective=``); ``nil_deleted``: the share of the gold entities whose mentions also
teach the NIL classifier as if the KB lacked them (``bench_el.py loo_nil_deleted=``), leaving out the QIDs listed in
``nil_deleted_exclude`` (a set a benchmark deletes, so that its figure is measured on entities the fit never saw
deleted).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import balance_option, choice_option, key_value_options, qid_file, share_option  # noqa: E402  (benchmarks/common.py)

DEFAULTS = {"kb_dir": "kb/arnold", "cache": "runs/loo_kept.json", "params": "", "drop": "", "nil_missing": "false",
            "nil_method": "held_out", "balance": "0", "nil_objective": "in_kb", "nil_deleted": "0",
            "nil_deleted_exclude": "", "out": "glinker/resources/reranker"}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    opts = key_value_options(argv, DEFAULTS)
    from common import el_benchmark_path  # the benchmark files by name, istex_train's Turtle included

    from glinker.evaluate.el import kb_membership, load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.rerank.fit import FIT_BENCHMARKS, LAMBDAMART_PARAMS
    from glinker.rerank.leave_one_out import load_kept, refit
    from glinker.rerank.ranker import FEATURES
    from glinker.settings import resolve_data_path

    if not Path(opts["cache"]).is_file():
        raise SystemExit(f"cache={opts['cache']}: not found; make it with benchmarks/bench_el.py loo=only "
                         f"systems=[3] loo_cache={opts['cache']}")
    params = json.loads(opts["params"]) if opts["params"] else None
    drop = [n.strip() for n in opts["drop"].strip("[]").split(",") if n.strip()]
    if any(n not in FEATURES for n in drop):
        raise SystemExit(f"drop={drop}: not all are reranker features; known: {', '.join(FEATURES)}")
    features = [n for n in FEATURES if n not in drop] if drop else None
    benchmarks = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in FIT_BENCHMARKS}
    try:
        spans, traced = load_kept(opts["cache"])
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    missing = [n for n in benchmarks if n not in spans or n not in traced]
    if missing:
        raise SystemExit(f"the cache lacks {missing}: make it again with benchmarks/bench_el.py loo=only")
    kb = KnowledgeBase.open(opts["kb_dir"])
    kb_has = kb_membership(kb, [d for docs in benchmarks.values() for d in docs])
    nil_missing = opts["nil_missing"].lower() in ("1", "true", "yes")
    from glinker.rerank.nil_fit import NIL_METHODS, NIL_OBJECTIVES

    choice_option("nil_objective", opts["nil_objective"], NIL_OBJECTIVES)
    choice_option("nil_method", opts["nil_method"], NIL_METHODS)
    balance = balance_option("balance", opts["balance"])
    nil_deleted = share_option("nil_deleted", opts["nil_deleted"], "gold entities")
    exclude = qid_file("nil_deleted_exclude", opts["nil_deleted_exclude"]) or set()
    out = Path(opts["out"])
    if out.exists() and not out.is_dir():
        raise SystemExit(f"out={out} is a file: name a folder for the model files")
    out.mkdir(parents=True, exist_ok=True)  # before the minutes of fitting, not after
    ranker, nil_booster, threshold = refit(spans, traced, benchmarks, kb_has, params, features, nil_missing,
                                           opts["nil_method"], balance, opts["nil_objective"], nil_deleted, exclude)
    calibration = out / "lambdamart.json"
    old = json.loads(calibration.read_text(encoding="utf-8")) if calibration.is_file() else {}
    settings = LAMBDAMART_PARAMS | (params or {})
    _write(out / "lambdamart.txt", ranker.booster.model_to_string())
    _write(out / "lambdamart.json", json.dumps({
        "scale": round(ranker.model_scale, 6), "bias": round(ranker.model_bias, 6),
        "span_nil_threshold": old.get("span_nil_threshold", 0.1),
        "note": "calibration of lambdamart.txt: link probability = sigmoid(scale * score + bias); given spans are "
                f"NIL below span_nil_threshold. Fitted on every document of {', '.join(benchmarks)} "
                f"(scripts/fit_loo.py; LightGBM {json.dumps(settings, sort_keys=True)}"
                f"{'; without ' + ', '.join(drop) if drop else ''})"}, indent=2) + "\n")
    _write(out / "nil.txt", nil_booster.model_to_string())
    _write(out / "nil.json", json.dumps({
        "threshold": threshold,
        "note": "link when nil.txt's probability that the best candidate is right reaches threshold; fitted "
                f"by scripts/fit_loo.py nil_method={opts['nil_method']} nil_objective={opts['nil_objective']} "
                "(glinker/rerank/nil_fit.py)"
                + ("; mentions of gold entities the KB lacks count as wrong links" if nil_missing else "")
                + (f"; also taught by the mentions of a share {nil_deleted:g} of the gold entities as if the KB lacked "
                   f"them, each a wrong link (nil_deleted={nil_deleted:g}"
                   + (f", leaving out the {len(exclude)} in {opts['nil_deleted_exclude']}, which "
                      "benchmarks/bench_out_of_kb.py deletes" if exclude else "") + ")" if nil_deleted else "")},
        indent=2) + "\n")
    print(json.dumps({"out": str(out), "nil_threshold": threshold, "scale": ranker.model_scale,
                      "bias": ranker.model_bias, "params": settings}))


if __name__ == "__main__":
    main(sys.argv[1:])
