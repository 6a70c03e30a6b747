"""Entity-linking accuracy table: baselines and the default pipeline, side by side, in one run.

    python benchmarks/bench_el.py kb_dir=kb/arnold [mode=ed|e2e|both] [benchmarks=[a,b]] [out=bench_el.md] [loo=true]

Each system is a ``glinker.link`` config (overrides); every system runs on every
benchmark with the same KB and model. Benchmarks the default reranker was fitted on
(``FIT_BENCHMARKS``) are scored on their held-out 30 % of documents only (``documents=all``: on every
document, as the leave-one-out figures are); ``systems=[a,b]``
picks systems by their position in ``SYSTEMS`` (0-based). Prints a Markdown table (and writes it to
``out``) and a JSON line with all metrics last.

``loo=true`` adds leave-one-benchmark-out figures (:mod:`glinker.rerank.leave_one_out`) for each chosen
system with a fitted ranker, over all documents of the benchmarks the packaged ranker was fitted on: the
ranker, NIL classifier and NIL threshold refitted without the benchmark each figure scores, next to the
same system's in-sample figure on the same documents (the packaged models), and the refit noise. Systems
with nothing fitted (the baselines) score the same either way. ``loo=only`` skips the per-benchmark table.
``loo_cache=FILE`` keeps the linked features (JSON) and refits from them on the next run;
``loo_params={"num_leaves":3}`` refits the rankers with other LightGBM settings (JSON), to choose them by
their leave-one-out mean; ``loo_drop=[context_names]`` refits them without those features (the in-sample
figures keep the configured models), to keep a feature only when the leave-one-out mean says so;
``loo_nil_missing=true`` also fits the NIL classifiers on detected mentions of gold entities the KB lacks (as wrong
links). Each benchmark's row also gives how many detected mentions sit on such gold and how many of them are left
NIL (where NIL is right), by the packaged models and by the held-out ones. ``loo_nil_method=two_fold`` (or
``held_out_oof``; default ``held_out``) fits each NIL classifier and threshold another way
(:mod:`glinker.rerank.nil_fit`). ``loo_check=[NAME,...]`` also refits on every fitted benchmark, as
``scripts/fit_loo.py`` would with the same options, and scores that refit beside the packaged models on those
benchmarks, which must be outside ``FIT_BENCHMARKS`` (their features are kept in ``loo_cache`` too; a variant of a
fitted benchmark's documents, such as ``wiki-fair-no-coref``, is no check); ``loo=check`` runs only that.
``loo_balance=0.5`` weighs a benchmark of N gold spans like N^0.5 spans in every ranker fit (1: every benchmark
alike; 0, the default: every span alike). ``loo_nil_objective=with_nil`` chooses each NIL threshold for the F1 that
counts a link on gold the KB lacks as wrong (default ``in_kb``: such links left out, as the tables score).
``loo_deleted_eval=FILE`` (QIDs, one a line, such as ``bench_out_of_kb.py``'s ``deleted.txt``) also scores each
benchmark's detected mentions of those entities as if the KB lacked them (:mod:`glinker.rerank.deletion`): the
share left NIL by the packaged and the held-out models. ``loo_nil_deleted=0.3`` teaches the NIL classifiers with
that share of the other gold entities deleted the same way (their mentions as wrong links).
``loo_nil_smooth=1`` chooses each NIL threshold over the F1 averaged with one grid step (0.05) on either side.
``loo_deleted_cache=FILE``: the kept features of the same benchmarks linked over a KB without
``loo_deleted_eval``'s entities (``bench_el.py kb_dir=runs/out_of_kb/kb loo=only loo_cache=FILE`` over the KB
``bench_out_of_kb.py`` prunes): the share of those mentions left NIL there, linked for real rather than simulated.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import (  # noqa: E402  (benchmarks/common.py)
    balance_option,
    choice_option,
    el_benchmark_path,
    key_value_options,
    qid_file,
    share_option,
    stamp,
)

from glinker.config import CONF_DIR  # noqa: E402

# news-fair and wiki-fair gold includes coreference mentions (pronouns: "he", "its"), which no
# mention detector of names finds (given as spans, they take their antecedent's entity); their "-no-coref"
# variants drop them (same documents).
BENCHMARKS = ["aida-conll-dev", "oke-2016-train", "msnbc", "spotlight", "wiki-fair", "oke-2015-train", "derczynski",
              "news-fair", "istex_train", "wiki-fair-no-coref", "news-fair-no-coref"]
SYSTEMS = {
    "alias + popularity": ["experiment=alias_popularity_baseline"],
    "dense span·entity top-1": ["experiment=dense_baseline"],
    "dense name top-1": ["experiment=name_baseline"],
    "glinker default (alias ∪ name ∪ demonym + learned reranker)": [],
    "glinker default, centred context windows": ["reranker.context_windows=mention"],
    # the same baseline with its own mention detection: KB alias matches in the text (no model at all)
    "alias match (KB-alias detection) + popularity": ["experiment=alias_popularity_baseline", "detector=alias"],
    # the benchmarks' annotation conventions (place qualifiers joined, pronouns resolved): glinker/conf/conventions
    "glinker default + benchmark conventions": ["conventions=benchmarks"],
    # without the rules that rule candidates out by the mention's words (glinker/rerank/compatibility.py)
    "glinker default, no compatibility rules": ["+reranker.compatibility=false"],
}



def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f} %"


def loo_tables(systems: dict[str, list[str]], overrides: list[str], all_results: dict, cache: str | None = None,
               params: dict | None = None, drop: list[str] | None = None, nil_missing: bool = False,
               nil_method: str = "held_out", check: list[str] | None = None, loo: bool = True,
               balance: float = 0.0, nil_objective: str = "in_kb", nil_deleted: float = 0.0, nil_smooth: int = 0,
               deleted_eval: set[str] | None = None, deleted_cache: str | None = None) -> list[str]:
    """Leave-one-benchmark-out against in-sample, per system with a fitted ranker (see the module doc); with
    ``check``, also the refit against the packaged models on those benchmarks (none fitted on them)."""
    from glinker.config import build_pipeline
    from glinker.evaluate.el import load_benchmark
    from glinker.rerank.fit import FIT_BENCHMARKS
    from glinker.rerank.leave_one_out import leave_one_out, summary
    from glinker.rerank.ranker import FEATURES, FeatureReranker
    from glinker.settings import resolve_data_path

    unknown = [n for n in drop or () if n not in FEATURES]
    if unknown:
        raise SystemExit(f"loo_drop={unknown}: not reranker features; known: {', '.join(FEATURES)}")
    features = [n for n in FEATURES if n not in set(drop)] if drop else None
    benches = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in FIT_BENCHMARKS}
    deleted_traced = None
    if deleted_cache:
        from glinker.rerank.kept import load_kept

        if not Path(deleted_cache).is_file():
            raise SystemExit(f"loo_deleted_cache={deleted_cache}: not found; make it by linking the benchmarks over "
                             "the pruned KB: python benchmarks/bench_el.py kb_dir=runs/out_of_kb/kb loo=only "
                             f"systems=[3] loo_cache={deleted_cache}")
        try:
            deleted_traced = load_kept(deleted_cache)[1]
        except (OSError, ValueError) as exc:
            raise SystemExit(f"loo_deleted_cache={deleted_cache}: {exc}") from None
    lines = []
    for system, sys_over in systems.items():
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="evaluate_el", overrides=overrides + sys_over)
        pipeline = build_pipeline(cfg)
        if not isinstance(pipeline.reranker, FeatureReranker) or pipeline.reranker.booster is None:
            lines.append(f"\n**{system}**: nothing fitted; its leave-one-out figures are its in-sample ones.")
            continue
        without = f", refitted without {', '.join(drop)}" if drop else ""
        without += ", NIL also fitted on out-of-KB mentions" if nil_missing else ""
        without += f", NIL fitted {nil_method}" if nil_method != "held_out" else ""
        without += f", benchmarks weighted N^-{balance:g}" if balance else ""
        without += ", NIL threshold for the F1 that counts links on out-of-KB gold as wrong" \
            if nil_objective == "with_nil" else ""
        without += f", NIL also taught by {nil_deleted:g} of the gold entities deleted" if nil_deleted else ""
        without += f", NIL thresholds over F1 smoothed ±{nil_smooth} grid steps" if nil_smooth else ""
        if check:
            lines += unseen_table(pipeline, system, benches, check, all_results, cache, params, features, nil_missing,
                                  nil_method, without, balance, nil_objective, nil_deleted, deleted_eval, nil_smooth)
        if not loo:
            continue
        try:
            results = leave_one_out(pipeline, benches, cache=cache, params=params, features=features,
                                    nil_missing=nil_missing, nil_method=nil_method, balance=balance,
                                    nil_objective=nil_objective, nil_deleted=nil_deleted, deleted_eval=deleted_eval,
                                    deleted_traced=deleted_traced, nil_smooth=nil_smooth)
        except ValueError as exc:  # a cache of another format, a reranker without a model
            raise SystemExit(str(exc)) from None
        total = summary(results)
        all_results[f"loo/{system}"] = {"benchmarks": [r.__dict__ for r in results], "summary": total}
        lines += [f"\n**{system}**, leave one benchmark out (all documents of each benchmark{without})\n",
                  "| benchmark | docs | ED in-sample | ED leave-one-out | e2e in-sample | e2e leave-one-out "
                  "| out-of-KB mentions | left NIL in-sample | left NIL leave-one-out |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.name} | {r.documents} | {r.ed_in_sample:.1f} | {r.ed_loo:.1f} | {r.e2e_in_sample:.1f} | "
                  f"{r.e2e_loo:.1f} | {r.out_of_kb_mentions} | {_pct(r.out_of_kb_nil_in_sample)} | "
                  f"{_pct(r.out_of_kb_nil_loo)} |" for r in results]
        lines.append(f"| mean (NIL: pooled) | | {total['ed_in_sample']:.1f} | {total['ed_loo']:.1f} | "
                     f"{total['e2e_in_sample']:.1f} | {total['e2e_loo']:.1f} | "
                     f"{sum(r.out_of_kb_mentions for r in results)} | {_pct(total['out_of_kb_nil_in_sample'])} | "
                     f"{_pct(total['out_of_kb_nil_loo'])} |")
        if deleted_eval:
            lines += [f"\nMentions of {len(deleted_eval)} deleted gold entities (simulated on the kept features), "
                      "left NIL\n", "| benchmark | mentions | in-sample | leave-one-out |", "|---|---|---|---|"]
            lines += [f"| {r.name} | {r.deleted_mentions} | {_pct(r.deleted_nil_in_sample)} | "
                      f"{_pct(r.deleted_nil_loo)} |" for r in results]
            lines.append(f"| pooled | {sum(r.deleted_mentions for r in results)} | "
                         f"{_pct(total['deleted_nil_in_sample'])} | {_pct(total['deleted_nil_loo'])} |")
            if deleted_traced:
                lines += ["\nThe same entities' mentions linked over a KB without them (loo_deleted_cache), left NIL\n",
                          "| benchmark | mentions | in-sample | leave-one-out |", "|---|---|---|---|"]
                lines += [f"| {r.name} | {r.deleted_kb_mentions} | {_pct(r.deleted_kb_nil_in_sample)} | "
                          f"{_pct(r.deleted_kb_nil_loo)} |" for r in results]
                lines.append(f"| pooled | {sum(r.deleted_kb_mentions for r in results)} | "
                             f"{_pct(total['deleted_kb_nil_in_sample'])} | {_pct(total['deleted_kb_nil_loo'])} |")
        lines += ["\nWhere the leave-one-out ED errors come from (gold spans): no candidates, gold not among the "
                  "candidates, gold ranked below another (of which: gold found as the country of a nationality word)\n",
                  "| benchmark | spans | right | no candidates | gold not a candidate | ranked below "
                  "| of which nationality |",
                  "|---|---|---|---|---|---|---|"]
        for r in results:
            e = r.ed_loo_errors
            lines.append(f"| {r.name} | {sum(e.values()) - e['ranked_below_demonym']} | {e['right']} | "
                         f"{e['no_candidates']} | {e['gold_not_candidate']} | {e['ranked_below']} | "
                         f"{e['ranked_below_demonym']} |")
        lines.append(f"\nRefit noise (std of the leave-one-out mean over bagging seeds): "
                     f"ED {total['ed_noise_std']:.2f} "
                     f"(seed means {total['ed_seed_means']}), e2e {total['e2e_noise_std']:.2f} "
                     f"(seed means {total['e2e_seed_means']}).")
        shown = 2 * len(results) + 9 + (len(results) + 4 if deleted_eval else 0) + (
            len(results) + 4 if deleted_traced else 0)
        print("\n".join(lines[-shown:]), file=sys.stderr, flush=True)
    return lines


def unseen_table(pipeline, system: str, fitted: dict, check: list[str], all_results: dict, cache, params, features,
                 nil_missing: bool, nil_method: str, without: str, balance: float = 0.0,
                 nil_objective: str = "in_kb", nil_deleted: float = 0.0,
                 deleted_eval: set[str] | None = None, nil_smooth: int = 0) -> list[str]:
    """The packaged models against a refit on every fitted benchmark, on benchmarks neither was fitted on."""
    from glinker.evaluate.el import load_benchmark
    from glinker.rerank.unseen import check_unseen
    from glinker.settings import resolve_data_path

    unseen = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in check}
    try:
        results = check_unseen(pipeline, fitted, unseen, cache=cache, params=params, features=features,
                               nil_missing=nil_missing, nil_method=nil_method, balance=balance,
                               nil_objective=nil_objective, nil_deleted=nil_deleted, deleted_exclude=deleted_eval,
                               nil_smooth=nil_smooth)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    all_results[f"unseen/{system}"] = [r.__dict__ for r in results]

    def mean(key):
        vals = [getattr(r, key) for r in results if getattr(r, key) is not None]
        return f"{sum(vals) / len(vals):.1f}" if vals else "–"

    keys = ("ed_packaged", "ed_refit", "e2e_packaged", "e2e_refit", "e2e_refit_ranker_packaged_nil",
            "out_of_kb_nil_packaged", "out_of_kb_nil_refit")
    lines = [f"\n**{system}**, packaged models against a refit on every fitted benchmark{without} (NIL threshold "
             f"{results[0].nil_threshold:.2f}), on benchmarks no fit saw\n",
             "| benchmark | docs | ED packaged | ED refit | e2e packaged | e2e refit | e2e refit ranker, packaged NIL "
             "| out-of-KB mentions | left NIL packaged | left NIL refit |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        figures = " | ".join(f"{getattr(r, k):.1f}" for k in keys[:5])
        lines.append(f"| {r.name} | {r.documents} | {figures} | {r.out_of_kb_mentions} | "
                     f"{_pct(r.out_of_kb_nil_packaged)} | {_pct(r.out_of_kb_nil_refit)} |")
    lines.append("| mean | | " + " | ".join(mean(k) for k in keys[:5]) + f" | | {mean(keys[5])} | {mean(keys[6])} |")
    print("\n".join(lines), file=sys.stderr, flush=True)
    return lines


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from glinker.evaluate.el_cli import run_el
    from glinker.rerank.fit import FIT_BENCHMARKS

    # the other arguments are Hydra overrides of the evaluate_el config (kb_dir=..., detector.threshold=...)
    opts, overrides = key_value_options(argv, {"mode": "both", "benchmarks": "", "out": "", "systems": "", "loo": "",
                                               "documents": "heldout", "loo_cache": "", "loo_params": "",
                                               "loo_drop": "", "loo_nil_missing": "false",
                                               "loo_nil_method": "held_out", "loo_check": "", "loo_balance": "0",
                                               "loo_nil_objective": "in_kb", "loo_nil_deleted": "0",
                                               "loo_nil_smooth": "0", "loo_deleted_eval": "",
                                               "loo_deleted_cache": ""},
                                        passthrough=True)
    modes = ["ed", "e2e"] if opts["mode"] == "both" else [opts["mode"]]
    if opts["documents"] not in ("heldout", "all"):
        raise SystemExit(f"documents={opts['documents']}: expected heldout or all")
    names = opts["benchmarks"].strip("[]").split(",") if opts["benchmarks"] else BENCHMARKS
    systems = SYSTEMS
    if opts["systems"]:
        keys = list(SYSTEMS)
        systems = {keys[int(i)]: SYSTEMS[keys[int(i)]] for i in opts["systems"].strip("[]").split(",")}
    all_results: dict = {}
    lines = []
    for mode in modes if opts["loo"] not in ("only", "check") else ():
        key = "accuracy" if mode == "ed" else "f1"
        header = "| system | " + " | ".join(names) + " | mean |"
        what = "accuracy, gold spans, in-KB" if mode == "ed" else "strong-match micro F1, in-KB"
        lines += [f"\n**{mode}** ({what})\n",
                  header, "|" + "---|" * (len(names) + 2)]
        for system, sys_over in systems.items():
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                heldout = FIT_BENCHMARKS if opts["documents"] == "heldout" else ()
                run = [f"mode={mode}", f"benchmark=[{','.join(el_benchmark_path(n) for n in names)}]",
                       f"heldout_only=[{','.join(heldout)}]"]
                cfg = compose(config_name="evaluate_el", overrides=overrides + sys_over + run)
            out = run_el(cfg)
            all_results[f"{mode}/{system}"] = out
            vals = [out["results"][Path(el_benchmark_path(n)).name.replace(".benchmark.jsonl", "")].get(key, 0.0)
                    for n in names]
            mean = sum(vals) / len(vals)
            lines.append(f"| {system} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {mean:.1f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    if opts["loo"] in ("true", "only", "check"):
        from glinker.rerank.nil_fit import NIL_METHODS, NIL_OBJECTIVES

        params = json.loads(opts["loo_params"]) if opts["loo_params"] else None
        drop = [n.strip() for n in opts["loo_drop"].strip("[]").split(",") if n.strip()]
        check = [n.strip() for n in opts["loo_check"].strip("[]").split(",") if n.strip()]
        choice_option("loo_nil_objective", opts["loo_nil_objective"], NIL_OBJECTIVES)
        choice_option("loo_nil_method", opts["loo_nil_method"], NIL_METHODS)
        balance = balance_option("loo_balance", opts["loo_balance"])
        nil_deleted = share_option("loo_nil_deleted", opts["loo_nil_deleted"], "gold entities")
        if not opts["loo_nil_smooth"].isdigit():
            raise SystemExit(f"loo_nil_smooth={opts['loo_nil_smooth']}: a whole number of grid steps (0: none)")
        deleted_eval = qid_file("loo_deleted_eval", opts["loo_deleted_eval"],
                                " (such as the deleted.txt benchmarks/bench_out_of_kb.py writes)")
        if opts["loo_deleted_cache"] and not deleted_eval:
            raise SystemExit("loo_deleted_cache= scores the mentions of the entities loo_deleted_eval=FILE lists; "
                             "give that file too")
        if set(check) & set(FIT_BENCHMARKS):
            raise SystemExit(f"loo_check={check}: {sorted(set(check) & set(FIT_BENCHMARKS))} are fitted benchmarks; "
                             "a check is on benchmarks no fit saw")
        if opts["loo"] == "check" and not check:
            raise SystemExit("loo=check scores a refit on the loo_check=[...] benchmarks: name them")
        lines += loo_tables(systems, overrides, all_results, opts["loo_cache"] or None, params, drop,
                            opts["loo_nil_missing"].lower() in ("1", "true", "yes"), opts["loo_nil_method"], check,
                            loo=opts["loo"] != "check", balance=balance,
                            nil_objective=opts["loo_nil_objective"], nil_deleted=nil_deleted,
                            deleted_eval=deleted_eval, deleted_cache=opts["loo_deleted_cache"] or None,
                            nil_smooth=int(opts["loo_nil_smooth"]))
    text = f"Command: `python benchmarks/bench_el.py {' '.join(argv)}` ({stamp()})\n" + "\n".join(lines) + "\n"
    print(text, file=sys.stderr)
    if opts["out"]:
        Path(opts["out"]).write_text(text, encoding="utf-8")
    print(json.dumps(all_results))


if __name__ == "__main__":
    main(sys.argv[1:])
