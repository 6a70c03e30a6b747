"""Cost model: projected time, memory and disk of a KB over full Wikidata, from measured per-entity figures.

    python benchmarks/cost_model.py [kb_dir=kb/arnold] [embed=runs/bench/embed.json] \\
        [dump=runs/bench/dump_full.json] [faiss=runs/bench/faiss_10M.json] [cores=16] [machines=[1,4,16]] \\
        [entities=110e6] [kept=60e6] [json_tb=1.4] [gz_gib=115] [bz2_gib=76]

Inputs are the JSON lines the benchmark scripts print last (``benchmarks/bench_embed.py``,
``benchmarks/bench_dump.py`` on the full-entity sample, ``benchmarks/bench_faiss.py`` at 10M) and a
KB built by ``kb_build`` (its LMDB bytes per entity and alias keys per entity). Nothing is timed
here: every projected figure is a measured per-entity or per-byte rate times a Wikidata size,
and each row of the table says which measurement it comes from and what it assumes.

Scaling assumptions (stated in the output too):

* Extraction is per-byte work (full entities average ~13 kB of JSON); parsing scales with
  worker processes, decompression with rapidgzip / indexed_bzip2 threads, both capped by cores.
* Embedding is data-parallel and compute-bound: ``cores`` cores run ``cores / 2`` two-thread
  encoder processes, each at the measured 2-thread rate (what ``embed_threads=2`` and one
  process per shard give). Across ``machines`` the embedding shards split evenly.
* The FAISS index is built once, on one machine, from the fp16 vectors (its add phase scales
  linearly in entities from the 10M measurement, training is a fixed cost per list count).

Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {"kb_dir": "kb/arnold", "embed": "runs/bench/embed.json", "dump": "runs/bench/dump_full.json",
            "faiss": "runs/bench/faiss_10M.json", "cores": "16", "machines": "[1,4,16]", "entities": "110e6",
            "kept": "60e6", "json_tb": "1.4", "gz_gib": "115", "bz2_gib": "76", "dim": "384"}


def parse(argv: list[str]) -> dict[str, str]:
    from common import key_value_options  # benchmarks/common.py (benchmarks/ is on sys.path when run as a script)

    return key_value_options(argv, DEFAULTS)


def load_json(path: str, what: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"{what}: {p} not found — run the benchmark that writes it (see this script's docstring)")
    try:
        return json.loads(p.read_text(encoding="utf-8").strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise SystemExit(f"{what}: {p} holds no JSON line ({exc})") from exc


def kb_facts(kb_dir: Path) -> dict:
    manifest = json.loads((kb_dir / "manifest.json").read_text(encoding="utf-8"))
    kept = manifest["counts"]["kept"]
    lmdb = sum(f.stat().st_size for f in (kb_dir / "entities.lmdb").iterdir())
    return {"kept": kept, "lmdb_bytes_per_entity": lmdb / kept,
            "alias_keys_per_entity": manifest["counts"]["alias_keys"] / kept,
            "build_peak_rss_gb": manifest["build"]["peak_rss_mb"] / 1024}


def embed_rates(embed: dict) -> dict:
    rows = [r for r in embed["rows"] if r["system"] == "glinker fp32"]
    by_threads = {r["threads"]: r["texts_per_s"] for r in rows}
    if 2 not in by_threads:
        raise SystemExit("embed JSON has no 'glinker fp32' row at threads=2: run bench_embed.py threads=[1,2]")
    return {"per_2_threads": by_threads[2], "per_1_thread": by_threads.get(1), "mean_tokens": embed["mean_tokens"]}


def dump_rates(dump: dict) -> dict:
    out = {}
    for fmt, block in dump["formats"].items():
        rows = {r["system"]: r for r in block["rows"]}
        one = rows.get("kb_build workers=1 threads=1")
        two = rows.get("kb_build workers=2 threads=1")
        dec = rows.get("kb_build reader, 1 thread")
        if one is None or dec is None or two is None:
            raise SystemExit(f"dump JSON lacks the workers=1/2 threads=1 or reader rows for {fmt}")
        mb = dump["uncompressed_mb"]
        # CPU seconds per MB of parsing alone = extraction minus the decompression it contains
        parse_mb_s = 1.0 / max(1e-9, 1.0 / one["mb_per_s"] - 1.0 / dec["mb_per_s"])
        # what handing blocks to workers and taking their rows back costs the one reading process
        hand_off_s_per_mb = max(0.0, two["cpu_seconds"] - one["cpu_seconds"]) / mb
        out[fmt] = {"extract_mb_s_1proc": one["mb_per_s"], "decompress_mb_s_1thread": dec["mb_per_s"],
                    "parse_mb_s_per_core": parse_mb_s, "hand_off_s_per_mb": hand_off_s_per_mb}
    return out


def faiss_facts(faiss_json: dict) -> dict:
    """The 10M name-space IVF index: build seconds per entity (add), train seconds, bytes per entity."""
    best = None
    for r in faiss_json["results"]:
        for ix in r["indexes"]:
            if "IVF" not in ix["factory"]:
                continue
            b = ix["build"]
            cand = {"factory": ix["factory"], "n": r["n"], "space": r["space"], "train_s": b["train_seconds"],
                    "add_s_per_entity": b["add_seconds"] / r["n"], "bytes_per_entity": b["file_bytes"] / r["n"],
                    "build_peak_gb": b["peak_rss_mb"] / 1024}
            if best is None or cand["bytes_per_entity"] < best["bytes_per_entity"]:
                best = cand
    if best is None:
        raise SystemExit("faiss JSON has no IVF index: run bench_faiss.py at 10M with an IVF factory")
    return best


def project(o: dict, emb: dict, dump: dict, fx: dict, machines: int) -> dict:
    cores, kept = int(o["cores"]), float(o["kept"])
    json_mb = float(o["json_tb"]) * 1e6
    rows = {}
    for fmt in ("gz", "bz2"):
        d = dump[fmt]
        # one machine reads the dump (a single compressed stream): a quarter of its cores decompress,
        # the rest parse; the reading process also hands every block out and takes the rows back
        dec_threads = max(1, cores // 4)
        reader = json_mb * (1.0 / (d["decompress_mb_s_1thread"] * dec_threads) + d["hand_off_s_per_mb"])
        parse = json_mb / (d["parse_mb_s_per_core"] * max(1, cores - dec_threads))
        rows[f"extract_{fmt}_h"] = max(reader, parse) / 3600
    rate = emb["per_2_threads"] * (cores // 2) * machines
    rows["embed_h"] = kept / rate / 3600
    # training works on 32 vectors per list (default_train_points), so it grows with the list count of
    # the factory kb_build picks for this size (default_factory) over the measured one's
    measured_nlist = int(re.search(r"IVF(\d+)", fx["factory"]).group(1))
    nlist_scale = (262_144 if kept > 50e6 else 65_536) / measured_nlist
    rows["index_h"] = (fx["train_s"] * nlist_scale + fx["add_s_per_entity"] * kept) * 2 / 3600  # span + name
    rows["total_gz_h"] = rows["extract_gz_h"] + rows["embed_h"] + rows["index_h"]
    rows["total_bz2_h"] = rows["extract_bz2_h"] + rows["embed_h"] + rows["index_h"]
    return rows


def main(argv: list[str]) -> None:
    o = parse(argv)
    kb = kb_facts(ROOT / o["kb_dir"] if not Path(o["kb_dir"]).is_absolute() else Path(o["kb_dir"]))
    emb = embed_rates(load_json(o["embed"], "embed"))
    dump = dump_rates(load_json(o["dump"], "dump"))
    fx = faiss_facts(load_json(o["faiss"], "faiss"))
    kept, dim, cores = float(o["kept"]), int(o["dim"]), int(o["cores"])
    machines = [int(x) for x in o["machines"].strip("[]").split(",") if x.strip()]

    disk = {
        "lmdb_gb": kb["lmdb_bytes_per_entity"] * kept / 1e9,
        "vectors_fp16_gb": 2 * 2 * dim * kept / 1e9,  # embeddings.f16.npy + sentence.f16.npy
        "faiss_gb": 2 * fx["bytes_per_entity"] * kept / 1e9,  # entities.faiss + names.faiss
    }
    disk["total_gb"] = sum(disk.values())
    # serving memory: compressed codes resident (or memory-mapped and shared), fp16 rows read on demand
    # FAISS build: the codes of one index in RAM while adding + its fp32 training sample + the process
    nlist = 262_144 if kept > 50e6 else 65_536
    train_gb = 32 * nlist * (dim + 1) * 4 / 1e9
    memory = {"build_peak_gb": fx["bytes_per_entity"] * kept / 1e9 + train_gb + kb["build_peak_rss_gb"],
              "serve_index_resident_gb": 2 * fx["bytes_per_entity"] * kept / 1e9,
              "serve_model_gb": kb["build_peak_rss_gb"]}
    proj = {m: project(o, emb, dump, fx, m) for m in machines}

    from common import stamp

    print(f"Command: `python benchmarks/cost_model.py {' '.join(argv)}` ({stamp()})\n")
    print(f"Wikidata: {float(o['entities']):,.0f} entities, {o['json_tb']} TB JSON ({o['gz_gib']} GiB .gz, "
          f"{o['bz2_gib']} GiB .bz2); assumed kept after filters: {kept:,.0f}. One machine = {cores} cores.\n")
    print("Measured inputs: "
          f"embedding {emb['per_2_threads']:.0f} texts/s per 2-thread process ({emb['mean_tokens']} tokens/text); "
          f"extraction {dump['gz']['parse_mb_s_per_core']:.0f} MB/s of JSON parsed per core, decompression "
          f"{dump['gz']['decompress_mb_s_1thread']:.0f} (gz) / {dump['bz2']['decompress_mb_s_1thread']:.0f} (bz2) "
          f"MB/s per thread; FAISS {fx['factory']} at {fx['n']:,}: train {fx['train_s']:.0f} s, "
          f"add {fx['add_s_per_entity'] * 1e6:.1f} s per million, {fx['bytes_per_entity']:.0f} bytes/entity; "
          f"LMDB {kb['lmdb_bytes_per_entity']:.0f} bytes/entity ({kb['alias_keys_per_entity']:.2f} alias keys each).\n")
    print("| machines × cores | extract .gz (h) | extract .bz2 (h) | embed (h) | FAISS span+name (h) | "
          "total from .gz (h) | total from .bz2 (h) |")
    print("|---|---|---|---|---|---|---|")
    for m, p in proj.items():
        print(f"| {m} × {cores} | {p['extract_gz_h']:.1f} | {p['extract_bz2_h']:.1f} | {p['embed_h']:.1f} | "
              f"{p['index_h']:.1f} | {p['total_gz_h']:.1f} | {p['total_bz2_h']:.1f} |")
    print(f"\nDisk: LMDB {disk['lmdb_gb']:.0f} GB + fp16 vectors {disk['vectors_fp16_gb']:.0f} GB + FAISS "
          f"{disk['faiss_gb']:.0f} GB = **{disk['total_gb']:.0f} GB**. Memory: build peak "
          f"≈ {memory['build_peak_gb']:.0f} GB (one FAISS index's codes while adding + its fp32 training sample of "
          f"32 vectors per list); serving "
          f"{memory['serve_index_resident_gb']:.0f} GB of index codes (memory-mapped, shared by processes) + "
          f"≈ {memory['serve_model_gb']:.1f} GB per linker process.")
    print(json.dumps({"inputs": {"kb": kb, "embed": emb, "dump": dump, "faiss": fx}, "options": o,
                      "disk_gb": disk, "memory_gb": memory, "hours": {str(m): p for m, p in proj.items()}}))


if __name__ == "__main__":
    main(sys.argv[1:])
