"""How often the nearby-places rules rule out a gold entity, on gold spans, free of any ranker.

    python benchmarks/nearby_places.py [kb_dir=kb/arnold] [benchmarks=[aida-conll-dev,msnbc,...]] [chars=400]

For every gold mention of the benchmarks whose name the KB gives to some entity, takes the entities of that name
(``KnowledgeBase.records_named``: the homonyms the rules act on) and compares the candidates
:class:`glinker.rerank.compatibility.Compatibility` rules out with and without the nearby places
(:mod:`glinker.rerank.nearby_places`: a place named within ``chars`` characters, and the qualifier a neighbouring
gold mention's description gives). Counts the mentions where the nearby places rule out more, those where the gold
entity is among what they add (their harm), and those where they rule out the most popular homonym while the gold
survives (where they can help a ranker that follows popularity). Prints a Markdown table, every mention where they
fire, and a JSON line.
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
    from glinker.rerank.compatibility import Compatibility
    from glinker.settings import resolve_data_path
    from glinker.types import Candidate, Mention

    if not Path(opts["kb_dir"]).is_dir():
        raise SystemExit(f"kb_dir={opts['kb_dir']}: no KB there; build one (README, 'Build a KB') or name another")
    kb = KnowledgeBase.open(opts["kb_dir"])
    before, after = Compatibility(kb, nearby_chars=None), Compatibility(kb, nearby_chars=int(opts["chars"]))
    names = [n.strip() for n in opts["benchmarks"].strip("[]").split(",") if n.strip()]
    counts: dict[str, Counter] = {}
    fired: list[str] = []
    for name in names:
        path = resolve_data_path(el_benchmark_path(name))
        if not path.is_file():
            raise SystemExit(f"{path}: benchmark not found; set GLINKER_DATA_DIR to the shared data folder")
        c = counts[name] = Counter()
        for doc in load_benchmark(path):
            gold = sorted(doc.mentions, key=lambda m: m.start)
            mentions = [Mention(m.start, m.end, doc.text[m.start:m.end], "", 1.0) for m in gold]
            homonyms = [kb.records_named(x.text, limit=50) for x in mentions]
            cands = [[Candidate(r.qid, 1.0) for r in recs] for recs in homonyms]
            records = {r.qid: r for recs in homonyms for r in recs}
            contexts = [doc.text] * len(mentions)
            old = before.ruled_out(mentions, cands, contexts, records)
            new = after.ruled_out(mentions, cands, contexts, records)
            for m, recs, o, n in zip(gold, homonyms, old, new):
                if not m.qid or not recs:
                    continue
                c["named_mentions"] += 1
                flags = [b and not a for a, b in zip(o, n)]
                if not any(flags):
                    continue
                out = {r.qid for r, f in zip(recs, flags) if f}
                c["fires"] += 1
                c["gold_ruled_out"] += m.qid in out
                c["top_ruled_out_gold_kept"] += recs[0].qid in out and m.qid not in out and m.qid in {
                    r.qid for r in recs}
                fired.append(f"{name}\t{doc.text[m.start:m.end]!r}\tgold {m.qid}\truled out "
                             f"{', '.join(f'{r.qid} ({r.description[:50]})' for r, f in zip(recs, flags) if f)}")
    keys = ("named_mentions", "fires", "gold_ruled_out", "top_ruled_out_gold_kept")
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
