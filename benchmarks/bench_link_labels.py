"""Linking speed against the detector's label count: where the time goes with 1 label and with 1,024.

    python benchmarks/bench_link_labels.py kb_dir=kb/arnold [docs=48] [labels=1,1024] [repeats=3] [profile=true]

Links the first ``docs`` ELEVANT dev documents (as ``benchmarks/bench_link.py``) with the pipeline of
``python -m glinker.link``, once per label set (the first ``n`` labels of ``benchmarks/bench_labels.py``'s
label file, ``runs/bench_labels/labels.txt``: "person", then the common NER types, then Wikidata class
names), the label sets interleaved ``repeats`` times (median). Per label set: docs/s, mentions, and the
seconds spent in each stage (detection, refiners, retrieval, reranking; the rest is the pipeline's own
bookkeeping). ``profile=true`` adds the cProfile functions whose cumulative time grows most between the
first and the last label set. Prints Markdown tables and a JSON line last.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_link import load_texts  # noqa: E402  (benchmarks/bench_link.py)
from common import key_value_options, stamp  # noqa: E402


def _timed(obj, name: str, spent: dict[str, float]) -> None:
    """Wrap ``obj.name`` so its wall time adds up in ``spent[name]``."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

    setattr(obj, name, wrapper)


def main(argv: list[str]) -> None:
    import glinker
    from glinker.types import Document

    opts = key_value_options(argv, {"kb_dir": "kb/arnold", "docs": "48", "labels": "1,1024", "repeats": "3",
                                    "profile": "true",
                                    "label_file": str(ROOT / "runs" / "bench_labels" / "labels.txt")})
    with open(opts["label_file"], encoding="utf-8") as fh:
        all_labels = [line.rstrip("\n") for line in fh]
    counts = [int(x) for x in opts["labels"].split(",")]
    texts = load_texts(int(opts["docs"]))
    pipeline = glinker.load(kb_dir=opts["kb_dir"])
    spent: dict[str, float] = {}
    _timed(pipeline.detector, "detect", spent)
    _timed(pipeline.retriever, "retrieve", spent)
    _timed(pipeline.reranker, "rerank", spent)
    for rule in pipeline.refiners:
        _timed(rule, "refine", spent)
    label_sets = {n: tuple(all_labels[:n]) for n in counts}
    for labels in label_sets.values():  # label vectors computed once, outside the timing
        pipeline.labels = labels
        list(pipeline([Document("warm", texts[0])]))
    runs: dict[int, list[dict]] = {n: [] for n in counts}
    for _ in range(int(opts["repeats"])):
        for n, labels in label_sets.items():
            pipeline.labels = labels
            docs = [Document(str(i), t) for i, t in enumerate(texts)]
            spent.clear()
            t0 = time.perf_counter()
            list(pipeline(docs))
            total = time.perf_counter() - t0
            runs[n].append({"seconds": total, **{k: v for k, v in spent.items()},
                            "mentions": sum(len(d.mentions) for d in docs),
                            "linked": sum(m.qid is not None for d in docs for m in d.mentions),
                            "candidates": sum(len(m.candidates or ()) for d in docs for m in d.mentions)})
    stages = ["detect", "refine", "retrieve", "rerank"]
    rows = []
    for n in counts:
        med = {k: statistics.median(r.get(k, 0.0) for r in runs[n]) for k in ("seconds", *stages)}
        rows.append({"labels": n, "docs": len(texts), "docs_per_s": round(len(texts) / med["seconds"], 2),
                     **{f"{k}_s": round(v, 2) for k, v in med.items()},
                     "mentions": runs[n][0]["mentions"], "linked": runs[n][0]["linked"]})
    base = rows[0]
    lines = [f"Command: `python benchmarks/bench_link_labels.py {' '.join(argv)}` ({stamp()}, median of "
             f"{opts['repeats']} interleaved runs)", "",
             "| labels | docs/s | × first | total s | detect s | refiners s | retrieve s | rerank s | mentions | "
             "linked |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['labels']:,} | {r['docs_per_s']} | {r['docs_per_s'] / base['docs_per_s']:.2f} | "
                     f"{r['seconds_s']} | {r['detect_s']} | {r['refine_s']} | {r['retrieve_s']} | {r['rerank_s']} | "
                     f"{r['mentions']:,} | {r['linked']:,} |")
    profile = []
    if opts["profile"].lower() in ("1", "true", "yes"):
        cum = {}
        for n in (counts[0], counts[-1]):
            pipeline.labels = label_sets[n]
            prof = cProfile.Profile()
            prof.enable()
            list(pipeline([Document(str(i), t) for i, t in enumerate(texts)]))
            prof.disable()
            cum[n] = {f"{f[0].split('/glinker/')[-1]}:{f[1]}({f[2]})": v[3]
                      for f, v in pstats.Stats(prof).stats.items()}
        a, b = cum[counts[0]], cum[counts[-1]]
        grow = sorted(((b[k] - a.get(k, 0.0), k) for k in b), reverse=True)[:15]
        profile = [{"function": k, f"cum_s_{counts[0]}": round(a.get(k, 0.0), 3), f"cum_s_{counts[-1]}": round(b[k], 3)}
                   for _, k in grow]
        lines += ["", f"cProfile, cumulative seconds: functions that grow most from {counts[0]} to {counts[-1]} labels",
                  "", f"| function | {counts[0]} labels | {counts[-1]} labels |", "|---|---|---|"]
        lines += [f"| `{p['function']}` | {p[f'cum_s_{counts[0]}']} | {p[f'cum_s_{counts[-1]}']} |" for p in profile]
    print("\n".join(lines))
    print(json.dumps({"rows": rows, "profile": profile}))


if __name__ == "__main__":
    main(sys.argv[1:])
