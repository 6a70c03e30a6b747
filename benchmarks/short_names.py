"""How often a short form of a person's name names the person an earlier mention names in full, on gold.

    python benchmarks/short_names.py [kb_dir=kb/arnold] [benchmarks=[aida-conll-dev,msnbc,...]]

For every gold mention that :func:`glinker.resolution.names.name_antecedents` resolves when each gold mention is
"linked" to its gold entity (a surname or given name after the full name of a person, P31 human, in the KB), counts
whether its own gold entity is that person: the precision of the rule ``NameResolver`` applies, free of any
ranker. Also prints how far the antecedents are (characters), which sets the look-back. Prints a Markdown table,
the mentions where the rule and the gold disagree, and a JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import el_benchmark_path, key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

BENCHMARKS = ["aida-conll-dev", "oke-2016-train", "msnbc", "spotlight", "oke-2015-train", "derczynski", "news-fair",
              "wiki-fair", "istex_train"]


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"kb_dir": "kb/arnold", "benchmarks": ",".join(BENCHMARKS)})
    from glinker.evaluate.el import load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.resolution.names import name_antecedents, name_words
    from glinker.settings import resolve_data_path
    from glinker.wikidata_classes import HUMAN

    if not Path(opts["kb_dir"]).is_dir():
        raise SystemExit(f"kb_dir={opts['kb_dir']}: no KB there; build one (README, 'Build a KB') or name another")
    kb = KnowledgeBase.open(opts["kb_dir"])
    names = [n.strip() for n in opts["benchmarks"].strip("[]").split(",") if n.strip()]
    counts: dict[str, Counter] = {}
    gaps: list[int] = []
    wrong: list[tuple] = []
    for name in names:
        path = resolve_data_path(el_benchmark_path(name))
        if not path.is_file():
            raise SystemExit(f"{path}: benchmark not found; set GLINKER_DATA_DIR to the shared data folder")
        docs = load_benchmark(path)
        records = kb.store.get_many({m.qid for d in docs for m in d.mentions if m.qid})
        persons = {q for q, r in records.items() if HUMAN in r.types}
        c = counts[name] = Counter()
        for doc in docs:
            ms = sorted(doc.mentions, key=lambda m: (m.start, m.end))
            spans = [(m.start, m.end, doc.text[m.start:m.end]) for m in ms]
            for i, j in enumerate(name_antecedents(spans, [m.qid for m in ms], persons.__contains__, 10**9)):
                if j is None:
                    continue
                m, a = ms[i], ms[j]
                kind = "given name" if name_words(spans[i][2])[0] == name_words(spans[j][2])[0] else "surname"
                c[kind] += 1
                c["same"] += m.qid == a.qid
                gaps.append(m.start - a.end)
                if m.qid != a.qid:
                    wrong.append((name, spans[j][2], a.qid, spans[i][2], m.qid))
    print(f"Command: `python benchmarks/short_names.py {' '.join(argv)}` ({stamp()})\n")
    print("| benchmark | short forms | surname | given name | the same person |\n|---|---|---|---|---|")
    total = Counter()
    for name, c in counts.items():
        total.update(c)
        print(f"| {name} | {c['surname'] + c['given name']} | {c['surname']} | {c['given name']} | {c['same']} |")
    n = total["surname"] + total["given name"]
    print(f"| all | {n} | {total['surname']} | {total['given name']} | {total['same']} |\n")
    pct = np.percentile(gaps, [50, 90, 99, 100]).round().tolist() if gaps else []
    print(f"characters from the full name to the short form: median, 90th, 99th percentile, max {pct}")
    for row in wrong:
        print("not the same:", row)
    print(json.dumps({"short_forms": n, "same": total["same"], "gap_percentiles": pct, "per_benchmark": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
