"""Which gold spans a change of the ruled-out flags fixes or breaks, leave one benchmark out, from kept features.

    python benchmarks/compare_kept.py before=FILE after=FILE [kb_dir=kb/arnold]
        [drop=[context_names,dense,dense_gap,dense_rank]] [show=true]

``before`` and ``after`` are ``bench_el.py loo_cache=FILE`` files of the same benchmarks linked by two pipelines whose
compatibility rules differ (``+reranker.common_nouns=false`` against the default, say): the rankers read the same
features from both, so each benchmark's ranker is fitted once, on the other fitted benchmarks' spans without the
features in ``drop`` (a benchmark outside ``FIT_BENCHMARKS``: on all of them), and its ED picks are compared under
each file's flags.
Prints per benchmark the spans whose pick changes, how many of them the change fixes and breaks, the ED before and
after, and (``show=true``) every changed span with the gold and the two picks' labels; then a JSON line. The short-name
rule is not applied (it acts alike on both).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import el_benchmark_path, key_value_options, stamp  # noqa: E402  (benchmarks/common.py)


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"before": "", "after": "", "kb_dir": "kb/arnold",
                                    "drop": "[context_names,dense,dense_gap,dense_rank]", "show": "false"})
    from glinker.evaluate.el import kb_membership, load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.rerank.feature_names import FEATURES
    from glinker.rerank.fit import FIT_BENCHMARKS
    from glinker.rerank.kept import load_kept
    from glinker.rerank.leave_one_out import span_places
    from glinker.rerank.rescoring import ed_picks, fit_ranker
    from glinker.settings import resolve_data_path

    for key in ("before", "after"):
        if not Path(opts[key]).is_file():
            raise SystemExit(f"{key}={opts[key]!r}: no kept-features file there (bench_el.py loo_cache=FILE makes one)")
    before, _ = load_kept(opts["before"])
    after, _ = load_kept(opts["after"])
    if set(before) != set(after) or any(len(before[n]) != len(after[n]) for n in before):
        raise SystemExit("the two files hold other benchmarks or other spans: link the same benchmarks into both")
    drop = {n.strip() for n in opts["drop"].strip("[]").split(",") if n.strip()}
    features = [f for f in FEATURES if f not in drop]
    fitted = [n for n in FIT_BENCHMARKS if n in before]
    kb = KnowledgeBase.open(opts["kb_dir"])
    everything = fit_ranker([s for o in fitted for s in before[o]], None, features)
    counts: dict[str, Counter] = {}
    for name in before:
        fit = fit_ranker([s for o in fitted if o != name for s in before[o]], None, features) if name in fitted \
            else everything
        docs = load_benchmark(resolve_data_path(el_benchmark_path(name)))
        where = span_places(name, docs, kb_membership(kb, docs), before[name])
        old, new = ed_picks(before[name], fit), ed_picks(after[name], fit)
        labels = {q: r.label for q, r in kb.store.get_many({q for q in old + new if q} |
                                                         {s.gold for s in before[name]}).items()}
        c = counts[name] = Counter(spans=len(old))
        for place, span, a, b in zip(where, before[name], old, new):
            c["right_before"] += a == span.gold
            c["right_after"] += b == span.gold
            if a != b:
                c["changed"] += 1
                c["fixed"] += b == span.gold
                c["broke"] += a == span.gold
                if opts["show"] == "true":
                    print(f"{name}\t{place[3]!r}\tgold {labels.get(span.gold, span.gold)}\t"
                          f"{labels.get(a, a)} -> {labels.get(b, b)}")
    print("| benchmark | ranker | spans | changed | fixed | broke | ED before | ED after |\n" + "|---" * 8 + "|")
    for name, c in counts.items():
        print(f"| {name} | {'leave one out' if name in fitted else 'all fitted'} | {c['spans']} | {c['changed']} | "
              f"{c['fixed']} | {c['broke']} | {100 * c['right_before'] / c['spans']:.2f} | "
              f"{100 * c['right_after'] / c['spans']:.2f} |")
    print(json.dumps({"stamp": stamp(), "before": opts["before"], "after": opts["after"],
                      "counts": {n: dict(c) for n, c in counts.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
