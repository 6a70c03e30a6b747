"""Leave-one-benchmark-out ED with and without a demonym-first rule, from kept features.

    python benchmarks/loo_demonym_first.py cache=runs/loo_kept_v3.json [drop=[context_names,dense,dense_gap,dense_rank]]
    python benchmarks/loo_demonym_first.py cache=runs/loo_kept_v3.json adjectives=true [kb_dir=kb/arnold]

The rule: when a mention has candidates that retrieval found as the place its nationality word names
(the ``demonym`` feature: "German" -> Germany), the best of those by the ranker comes first. Aida links such
words to the country; wiki-fair and istex_train mostly do too; OKE links the adjective to the people
("American" -> Americans). For every fitted benchmark of the kept-features file (``bench_el.py
loo_cache=…``), a ranker is fitted on the others as the packaged one is (``drop``: features left out) and
ED is scored with and without the rule; the sets no fit saw (wiki-fair, istex_train, wiki-fair-no-coref,
when the file holds them) are scored with the ranker fitted on all. ``adjectives=true``: the rule applies only
to a word that is not a plural noun (not ending in "s", or ending in "ss": "German", "Swiss", not "Germans"); the
spans' texts are read from the benchmarks again (ED's gold spans, in-KB by ``kb_dir``, in the kept order).
Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import el_benchmark_path, key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

UNSEEN = ("wiki-fair", "istex_train", "wiki-fair-no-coref")


def plural(text: str) -> bool:
    """A plural noun of people ("Americans", "Muslims"), not an adjective ("American", "Swiss")."""
    word = text.strip().split()[-1] if text.strip() else ""
    return word.endswith("s") and not word.endswith("ss")


def span_texts(names, kb_dir: str) -> dict[str, list[str]]:
    """Per benchmark, the text of every gold span ED scores, in the order the kept features hold them."""
    from glinker.evaluate.el import ed_scope, kb_membership, load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.settings import resolve_data_path
    docs = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in names}
    kb_has = kb_membership(KnowledgeBase.open(kb_dir), [d for ds in docs.values() for d in ds])
    return {n: [d.text[m.start:m.end] for d in ds for m in ed_scope(d, kb_has)[0]] for n, ds in docs.items()}


def accuracy(spans, fit, rule: bool, demonym: int, texts: list[str] | None = None) -> float:
    """ED accuracy (%) of ``fit`` on ``spans``; with ``rule``, demonym candidates (not ruled out) rank first
    (with ``texts``, only for spans whose text is not a plural noun)."""
    probs = fit.probs([s.features for s in spans], [s.ruled for s in spans])
    right = 0
    for k, (s, p) in enumerate(zip(spans, probs)):
        if p is None:
            continue
        if rule and (texts is None or not plural(texts[k])):
            flagged = (s.features[:, demonym] > 0) & ~s.ruled
            p = p + 10.0 * flagged  # probabilities are in [0, 1]: every flagged candidate above every other
        right += s.qids[int(np.argmax(p))] == s.gold
    return round(100.0 * right / max(len(spans), 1), 2)


def main(argv: list[str]) -> None:
    from glinker.rerank.leave_one_out import fit_ranker, load_kept
    from glinker.rerank.ranker import FEATURES

    opts = key_value_options(argv, {"cache": "runs/loo_kept_v3.json", "adjectives": "false", "kb_dir": "kb/arnold",
                                    "drop": "[context_names,dense,dense_gap,dense_rank]"})
    drop = {x.strip() for x in opts["drop"].strip("[]").split(",") if x.strip()}
    features = [f for f in FEATURES if f not in drop]
    spans, _ = load_kept(opts["cache"])
    fitted = [n for n in spans if n not in UNSEEN]
    demonym = FEATURES.index("demonym")
    texts = {n: None for n in spans}
    if opts["adjectives"].lower() in ("1", "true", "yes"):
        texts = span_texts(list(spans), opts["kb_dir"])
        wrong = {n: (len(texts[n]), len(spans[n])) for n in spans if len(texts[n]) != len(spans[n])}
        if wrong:
            raise SystemExit(f"the benchmarks' ED spans do not match the kept features (texts, kept): {wrong}")
    rows = []
    for n in fitted:
        fit = fit_ranker([s for o in fitted if o != n for s in spans[o]], None, features)
        rows.append({"benchmark": n, "fit": "leave one out", "without": accuracy(spans[n], fit, False, demonym),
                     "with": accuracy(spans[n], fit, True, demonym, texts[n])})
    full = fit_ranker([s for n in fitted for s in spans[n]], None, features)
    for n in (u for u in UNSEEN if u in spans):
        rows.append({"benchmark": n, "fit": "all fitted benchmarks",
                     "without": accuracy(spans[n], full, False, demonym),
                     "with": accuracy(spans[n], full, True, demonym, texts[n])})
    loo = [r for r in rows if r["fit"] == "leave one out"]
    mean = {k: round(float(np.mean([r[k] for r in loo])), 2) for k in ("without", "with")}
    print(f"Command: `python benchmarks/loo_demonym_first.py {' '.join(argv)}` ({stamp()})", file=sys.stderr)
    print("| benchmark | ranker | ED without the rule | ED with it |\n|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['benchmark']} | {r['fit']} | {r['without']} | {r['with']} |", file=sys.stderr)
    print(f"| mean of the {len(loo)} left out | | {mean['without']} | {mean['with']} |", file=sys.stderr)
    print(json.dumps({"rows": rows, "loo_mean": mean}))


if __name__ == "__main__":
    main(sys.argv[1:])
