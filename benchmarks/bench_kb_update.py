"""KB updates against a rebuild, in one run: ``python benchmarks/bench_kb_update.py [key=value ...]``.

1. Builds the arnold KB from its dump (the rebuild time).
2. Applies 100, 1,000 and 10,000 changed entities (real arnold entities whose description is
   revised, so each is re-embedded) to fresh copies of it with ``kb_build update``, timed.
3. Links EL dev documents (``glinker.load`` / ``glinker.config.load_pipeline``: retrieval, reranking,
   NIL) with a KB whose delta holds ``delta_share`` of its entities and with the same KB compacted.

Prints a table and writes JSON (``json=``). Options: dump, popularity, work (scratch folder),
sizes, delta_share, benchmark (an ELEVANT dev set under the shared data), docs, json, phase
(``phase=link``: measure linking again with the KBs an earlier run left in ``work``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

DEFAULTS = {
    "dump": "../shared/data/wikidata/arnold/arnold-dump.json.gz",
    "popularity": "../shared/data/wikidata/arnold/arnold-popularity.tsv.gz",
    "work": "runs/kb_update",
    "sizes": "100,1000,10000",
    "delta_share": "0.1",
    "benchmark": "el/elevant/aida-conll-dev.benchmark.jsonl",
    "docs": "40",
    "json": "runs/kb_update/bench_kb_update.json",
    "phase": "all",  # all; link: measure linking again with the KBs of an earlier run in `work`
}


def revised_entities(dump: str, n: int) -> list[bytes]:
    """``n`` entities spread over the dump, each with its English description revised (a real change)."""
    import msgspec

    from kb_build.dump import iter_lines

    lines = [line for _, line in iter_lines(dump, threads=1)]
    step = max(1, len(lines) // n)
    out = []
    for line in lines[::step]:
        ent = msgspec.json.decode(line)
        if ent.get("type") != "item" or "en" not in (ent.get("labels") or {}):
            continue
        desc = (ent.get("descriptions") or {}).get("en", {}).get("value", "")
        ent["descriptions"] = {**(ent.get("descriptions") or {}),
                               "en": {"language": "en", "value": (desc + " (revised)").strip()}}
        out.append(msgspec.json.encode(ent))
        if len(out) == n:
            break
    return out


def link_rates(kb_dirs: dict[str, Path], texts: list[str], repeats: int = 2) -> dict[str, float]:
    """Documents per second of the default pipeline over ``texts`` with each KB.

    The pipelines link document by document in turn (the order flipping each document), so the
    load of a shared machine falls on both alike; the sum of each one's times gives its rate.
    """
    try:
        from glinker.config import load_pipeline
    except ImportError:  # older layout
        from glinker.pipeline import Pipeline

        load_pipeline = Pipeline.from_defaults
    pipes = {name: load_pipeline(kb_dir=str(path)) for name, path in kb_dirs.items()}
    for nlp in pipes.values():
        nlp.link_text(texts[0])  # warm-up
    spent = dict.fromkeys(pipes, 0.0)
    names = list(pipes)
    for rep in range(repeats):
        for i, text in enumerate(texts):
            for name in names if (i + rep) % 2 == 0 else names[::-1]:
                start = time.perf_counter()
                pipes[name].link_text(text)
                spent[name] += time.perf_counter() - start
    for nlp in pipes.values():
        nlp.kb.close()
    return {name: repeats * len(texts) / spent[name] for name in names}


def link_again(work: Path, opts: dict[str, str]) -> None:
    """Re-measure linking with the delta and compacted KBs an earlier run left in ``work``; update its JSON."""
    from glinker.evaluate.el import load_benchmark
    from glinker.settings import data_dir

    out = Path(opts["json"])
    result = json.loads(out.read_text())
    delta_kb = work / f"kb-{result['delta_update']['changed']}"
    texts = [d.text for d in load_benchmark(data_dir() / opts["benchmark"])[: int(opts["docs"])]]
    best = link_rates({"delta": delta_kb, "compacted": work / "kb-compacted"}, texts)
    result["link"] = {"benchmark": opts["benchmark"], "docs": len(texts), "delta_share": result["link"]["delta_share"],
                      "docs_per_s": {k: round(v, 3) for k, v in best.items()},
                      "ratio_delta_vs_compacted": round(best["delta"] / best["compacted"], 3), "paired": True}
    print(json.dumps(result["link"], indent=2))
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    opts = key_value_options(argv, DEFAULTS)
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.evaluate.el import load_benchmark
    from glinker.settings import data_dir
    from kb_build.build import build_kb
    from kb_build.compact import compact_kb
    from kb_build.update import update_kb

    work = Path(opts["work"])
    if opts["phase"] == "link":
        return link_again(work, opts)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    encoder = BiEncoderDetector(None)
    base = work / "kb"
    start = time.perf_counter()
    manifest = build_kb(opts["dump"], base, encoder, popularity=opts["popularity"], progress=False)
    rebuild = time.perf_counter() - start
    kept = manifest["counts"]["kept"]
    print(f"rebuild: {rebuild:.1f} s ({kept} entities)", file=sys.stderr)
    result = {"machine": stamp(), "kept": kept, "rebuild_s": round(rebuild, 1), "updates": []}
    sizes = [int(s) for s in opts["sizes"].split(",")]
    delta_n = int(float(opts["delta_share"]) * kept)
    for n in sizes + [delta_n]:
        changes = work / f"changes-{n}.jsonl"
        changes.write_bytes(b"\n".join(revised_entities(opts["dump"], n)) + b"\n")
        kb_dir = work / f"kb-{n}"
        shutil.copytree(base, kb_dir)
        start = time.perf_counter()
        summary = update_kb(kb_dir, encoder, changes=str(changes), compact_share=None, progress=False)
        seconds = time.perf_counter() - start
        row = {"changed": n, "seconds": round(seconds, 2), "speedup_vs_rebuild": round(rebuild / seconds, 1),
               "counts": summary["counts"]}
        print(f"update {n}: {seconds:.2f} s ({rebuild / seconds:.1f}x faster than a rebuild)", file=sys.stderr)
        if n != delta_n:
            result["updates"].append(row)
            shutil.rmtree(kb_dir)
        else:
            result["delta_update"] = row
    delta_kb = work / f"kb-{delta_n}"
    compacted = work / "kb-compacted"
    shutil.copytree(delta_kb, compacted)
    start = time.perf_counter()
    compact_kb(compacted, progress=False)
    result["compact_s"] = round(time.perf_counter() - start, 1)
    docs = load_benchmark(data_dir() / opts["benchmark"])[: int(opts["docs"])]
    texts = [d.text for d in docs]
    best = link_rates({"delta": delta_kb, "compacted": compacted}, texts)
    result["link"] = {"benchmark": opts["benchmark"], "docs": len(texts), "delta_share": float(opts["delta_share"]),
                      "docs_per_s": {k: round(v, 3) for k, v in best.items()},
                      "ratio_delta_vs_compacted": round(best["delta"] / best["compacted"], 3)}
    print(json.dumps(result, indent=2))
    out = Path(opts["json"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1:])
