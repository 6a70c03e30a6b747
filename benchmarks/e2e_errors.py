"""Where end-to-end F1 is lost, leave one benchmark out, from kept features.

    python benchmarks/e2e_errors.py [cache=runs/loo_kept.json] [kb_dir=kb/arnold]
        [drop=[context_names,dense,dense_gap,dense_rank]] [out=FILE.tsv]

For each fitted benchmark, the ranker is fitted on the other six and the NIL classifier and threshold as the packaged
ones are (``two_fold``, taught with out-of-KB mentions, threshold for the F1 that counts their links as wrong; no
deleted entities), then every scored in-KB gold mention and every kept link is put in one class:

- ``right``: linked to the gold entity;
- ``wrong link``: linked at a gold span to another entity;
- ``link, no gold``: linked where no gold mention is (and nothing is left out there);
- ``NIL, best was right`` / ``NIL, best was wrong``: a detected gold span left NIL, whose best candidate was / was not
  the gold entity (a NIL classifier problem / a ranking problem);
- ``not detected``: no detected mention has the gold span.

The short-name rule is not applied, so the F1 differs a little from ``bench_el.py``'s. ``out`` also writes every
error, one a line (benchmark, class, mention text, gold, link, link probability). Prints a Markdown table and a JSON
line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import el_benchmark_path, key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

CLASSES = ["right", "wrong link", "link, no gold", "NIL, best was right", "NIL, best was wrong", "not detected"]


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"cache": "runs/loo_kept.json", "kb_dir": "kb/arnold",
                                    "drop": "[context_names,dense,dense_gap,dense_rank]", "out": ""})
    from glinker.evaluate.el import e2e_gold, kb_membership, load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.rerank.feature_names import FEATURES
    from glinker.rerank.fit import FIT_BENCHMARKS
    from glinker.rerank.kept import load_kept
    from glinker.rerank.nil import NilModel
    from glinker.rerank.nil_fit import fit_nil
    from glinker.rerank.rescoring import _records, fit_ranker, relinked
    from glinker.settings import resolve_data_path

    if not Path(opts["cache"]).is_file():
        raise SystemExit(f"cache={opts['cache']!r}: no kept-features file there (bench_el.py loo_cache=FILE makes one)")
    spans, traced = load_kept(opts["cache"])
    names = [n for n in FIT_BENCHMARKS if n in spans]
    drop = {n.strip() for n in opts["drop"].strip("[]").split(",") if n.strip()}
    features = [f for f in FEATURES if f not in drop]
    kb = KnowledgeBase.open(opts["kb_dir"])
    docs = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in names}
    kb_has = kb_membership(kb, [d for v in docs.values() for d in v])
    rankers = {n: fit_ranker([s for o in names if o != n for s in spans[o]], None, features) for n in names}
    lines: list[str] = []
    counts: dict[str, Counter] = {}
    for n in names:
        others = [o for o in names if o != n]
        booster, threshold = fit_nil(others, spans, traced, docs, kb_has, lambda s: fit_ranker(s, None, features),
                                     relinked, _records, None, features, True, "two_fold", held=rankers,
                                     objective="with_nil")
        records = _records(relinked(traced[n], rankers[n]), NilModel.from_booster(booster))
        c = counts[n] = Counter(threshold=threshold)
        for doc, recs in zip(docs[n], records):
            gold, ignore = e2e_gold(doc, kb_has)
            best = {(s, e): (q, p) for s, e, q, p, _ in recs}
            for (s, e), (q, p) in best.items():
                if q is None or p < threshold or (s, e) in ignore or not doc.in_evaluation_span(s, e):
                    continue
                kind = ("right" if gold.get((s, e)) == q else "wrong link") if (s, e) in gold else "link, no gold"
                c[kind] += 1
                if kind != "right":
                    lines.append(f"{n}\t{kind}\t{doc.text[s:e]}\t{gold.get((s, e), '')}\t{q}\t{p:.2f}")
            for (s, e), q in gold.items():
                q_best, p = best.get((s, e), (None, 0.0))
                if (s, e) not in best:
                    kind = "not detected"
                elif q_best is not None and p >= threshold:
                    continue  # counted above
                else:
                    kind = "NIL, best was right" if q_best == q else "NIL, best was wrong"
                c[kind] += 1
                lines.append(f"{n}\t{kind}\t{doc.text[s:e]}\t{q}\t{q_best}\t{p:.2f}")
    header = "| benchmark | NIL threshold | " + " | ".join(CLASSES) + " | P | R | F1 |"
    print(header + "\n" + "|---" * (len(CLASSES) + 5) + "|")
    for n, c in counts.items():
        tp, fp = c["right"], c["wrong link"] + c["link, no gold"]
        fn = sum(c[k] for k in CLASSES[3:]) + c["wrong link"]
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        c["f1"] = round(200 * p * r / max(p + r, 1e-9), 1)
        print(f"| {n} | {c['threshold']:.2f} | " + " | ".join(str(c[k]) for k in CLASSES)
              + f" | {100 * p:.1f} | {100 * r:.1f} | {c['f1']} |")
    if opts["out"]:
        target = Path(opts["out"])
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(target)
    print(json.dumps({"stamp": stamp(), "cache": opts["cache"], "counts": {n: dict(c) for n, c in counts.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
