"""How often the nearby-places rule rules out a gold entity, on gold spans, free of any ranker.

    python benchmarks/nearby_places.py [kb_dir=kb/arnold] [benchmarks=[aida-conll-dev,msnbc,...]] [chars=400]

For every gold mention of the benchmarks whose name the KB gives to two entities or more, takes the entities of that
name (``KnowledgeBase.records_named``: the homonyms the rule acts on) and the flags
:class:`glinker.rerank.nearby_places.NearbyPlaces` sets. Counts the mentions where it rules something out, those
where the gold entity is among the ruled out (the rule's harm), and those where it rules out the most popular
homonym while the gold survives (where it can help a ranker that follows popularity). Prints a Markdown table,
every mention where it fires, and a JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import el_benchmark_path, key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

BENCHMARKS = ["aida-conll-dev", "oke-2016-train", "msnbc", "spotlight", "oke-2015-train", "derczynski", "news-fair",
              "wiki-fair", "istex_train"]


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"kb_dir": "kb/arnold", "benchmarks": ",".join(BENCHMARKS), "chars": "400"})
    from glinker.evaluate.el import load_benchmark
    from glinker.kb import KnowledgeBase
    from glinker.rerank.nearby_places import NearbyPlaces
    from glinker.settings import resolve_data_path

    if not Path(opts["kb_dir"]).is_dir():
        raise SystemExit(f"kb_dir={opts['kb_dir']}: no KB there; build one (README, 'Build a KB') or name another")
    kb = KnowledgeBase.open(opts["kb_dir"])
    rule = NearbyPlaces(kb, int(opts["chars"]))
    names = [n.strip() for n in opts["benchmarks"].strip("[]").split(",") if n.strip()]
    counts: dict[str, Counter] = {}
    fired: list[str] = []
    for name in names:
        path = resolve_data_path(el_benchmark_path(name))
        if not path.is_file():
            raise SystemExit(f"{path}: benchmark not found; set GLINKER_DATA_DIR to the shared data folder")
        c = counts[name] = Counter()
        for doc in load_benchmark(path):
            for m in doc.mentions:
                if not m.qid:
                    continue
                records = kb.records_named(doc.text[m.start:m.end], limit=50)
                if len(records) < 2:
                    continue
                c["homonym_mentions"] += 1
                flags = rule.ruled_out(m.start, m.end, doc.text, records)
                if not any(flags):
                    continue
                out = {r.qid for r, f in zip(records, flags) if f}
                c["fires"] += 1
                c["gold_ruled_out"] += m.qid in out
                c["top_ruled_out_gold_kept"] += records[0].qid in out and m.qid not in out and m.qid in {
                    r.qid for r in records}
                fired.append(f"{name}\t{doc.text[m.start:m.end]!r}\tgold {m.qid}\truled out "
                             f"{', '.join(f'{r.qid} ({r.description[:50]})' for r, f in zip(records, flags) if f)}")
    keys = ("homonym_mentions", "fires", "gold_ruled_out", "top_ruled_out_gold_kept")
    lines = ["| benchmark | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    total = Counter()
    for name, c in counts.items():
        total.update(c)
        lines.append(f"| {name} | " + " | ".join(str(c[k]) for k in keys) + " |")
    lines.append("| **all** | " + " | ".join(str(total[k]) for k in keys) + " |")
    print("\n".join(lines))
    print("\n".join(fired))
    print(json.dumps({"stamp": stamp(), "kb_dir": opts["kb_dir"], "chars": int(opts["chars"]),
                      "counts": {n: dict(c) for n, c in counts.items()}, "total": dict(total)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
