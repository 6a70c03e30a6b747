#!/usr/bin/env python3
"""Dump reading side by side: kb_build's extraction vs qwikidata, on .json.gz and .json.bz2, in one run.

    flock /tmp/bench.lock python benchmarks/bench_dump.py [dump=PATH] [scale=5] [repeats=3] [cache_dir=DIR]
        [formats=gz,bz2] [configs=1x1,1x2,2x1,2x2] [systems=decompress,qwikidata,kb_build]

Input: a Wikidata JSON dump (default: the arnold slice of the shared data). With
``scale=N`` the benchmark file holds N copies of its entity lines, copy k with
ids renumbered (Q42 -> Q{42 + k * 10^9}), so that runs last long enough to time
the parallel configurations. The plain, ``.json.gz`` (gzip -6) and ``.json.bz2``
(bzip2 -9) files are written once to ``$GLINKER_CACHE_DIR/bench`` (default
``~/.cache/glinker/bench``), never into the repository.

Systems, each run on the same file:

* decompression alone (the ceiling): stdlib ``gzip`` / ``bz2`` reading the whole
  file, and kb_build's reader (``rapidgzip`` / ``indexed_bzip2``) with 1 and 2 threads;
* qwikidata: ``WikidataJsonDump`` (stdlib decompression + ``json.loads`` per line) and
  ``WikidataItem`` accessors, extracting exactly what kb_build extracts (below);
* kb_build: ``kb_build.extract.iter_extracted`` with ``Extractor(languages=("en",))`` and the
  default filters, for each ``workers x threads`` configuration.

Both extractors produce, per entity: id, English label (else the ``mul`` label), description,
aliases (the label of each language that is not the chosen one, then its aliases, deduplicated),
P31 and P279 targets of every non-deprecated statement, sitelink count (popularity = sitelinks);
and both drop properties, lexemes, disambiguation pages, scholarly articles, categories /
templates / list articles and entities without a label. Each system's first pass (untimed)
computes a checksum of every kept record's fields in order; the table shows it so that equal
output is visible. Then ``repeats`` timed passes run round-robin over the systems (so a
background load hits them alike); the best is reported. Timed passes only count records.

Prints a Markdown table per format and a JSON line last.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

from glinker.settings import cache_dir, data_dir  # noqa: E402
from glinker.types import EntityRecord  # noqa: E402
from kb_build.dump import block_lines, iter_line_blocks, open_dump  # noqa: E402
from kb_build.extract import (  # noqa: E402
    CATEGORY_LIKE,
    DISAMBIGUATION_PAGE,
    MULTILINGUAL,
    SCHOLARLY_ARTICLE,
    Extractor,
    iter_extracted,
)

ID_OFFSET = 10**9
"""Copy k of an entity gets id number + k * ID_OFFSET (Wikidata ids are below 2 * 10^8)."""
LANGUAGES = ("en",)


# --- input files -----------------------------------------------------------------


_ID = re.compile(rb'"id"\s*:\s*"([A-Z])(\d+)"')


def _renumber(line: bytes, k: int) -> bytes:
    # The top-level "id" is the first one in a dump line ("type", then "id"); nested
    # ids only occur inside the claims' objects, after a second "{".
    m = _ID.search(line)
    if m is None or 0 <= line.find(b"{", 1) < m.start():
        raise SystemExit(f"cannot find the entity id of line {line[:80]!r}...: not a dump line")
    number = b"%d" % (int(m[2]) + k * ID_OFFSET)
    return line[: m.start(2)] + number + line[m.end(2) :]


def prepare(source: Path, scale: int, out_dir: Path) -> dict[str, Path | int]:
    """Writes (once) the scaled plain dump and its .gz / .bz2 copies; returns paths and sizes."""
    stem = source.name.split(".json")[0] + (f"-x{scale}" if scale > 1 else "")
    paths = {fmt: out_dir / f"{stem}.json{ext}" for fmt, ext in (("plain", ""), ("gz", ".gz"), ("bz2", ".bz2"))}
    meta_path = out_dir / f"{stem}.meta.json"
    if meta_path.exists() and all(p.exists() for p in paths.values()):
        meta = json.loads(meta_path.read_text())
        if meta.get("source") == str(source) and meta.get("source_size") == source.stat().st_size:
            return {**paths, "entities": meta["entities"], "bytes": paths["plain"].stat().st_size}
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing {paths['plain']} ({scale} copies of {source.name})", file=sys.stderr)
    lines = [line for block in iter_line_blocks(source, threads=1) for _, line in block_lines(*block)]
    tmp = {fmt: p.with_name(p.name + ".tmp") for fmt, p in paths.items()}
    with open(tmp["plain"], "wb") as f:
        f.write(b"[\n")
        for k in range(scale):
            body = lines if k == 0 else [_renumber(line, k) for line in lines]
            f.write(b",\n".join(body))
            f.write(b",\n" if k < scale - 1 else b"\n")
        f.write(b"]\n")
    for fmt, opener in (("gz", lambda p: gzip.open(p, "wb", compresslevel=6)), ("bz2", lambda p: bz2.open(p, "wb"))):
        print(f"compressing {paths[fmt]}", file=sys.stderr)
        with open(tmp["plain"], "rb") as src, opener(tmp[fmt]) as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    for fmt in paths:
        os.replace(tmp[fmt], paths[fmt])
    meta = {"source": str(source), "source_size": source.stat().st_size, "scale": scale, "entities": len(lines) * scale}
    meta_path.write_text(json.dumps(meta))
    return {**paths, "entities": meta["entities"], "bytes": paths["plain"].stat().st_size}


# --- the systems -------------------------------------------------------------------
# Each system is a function path -> iterator over lists of kept EntityRecords plus the
# number of entities it read, so that every system is timed and checked the same way.


def qwikidata_records(path: Path) -> Iterator[tuple[list[EntityRecord], int]]:
    """qwikidata's reader and accessors, extracting what kb_build's Extractor extracts."""
    from qwikidata.entity import WikidataItem
    from qwikidata.json_dump import WikidataJsonDump

    langs = (*LANGUAGES, MULTILINGUAL)

    def targets(item: WikidataItem, prop: str) -> tuple[str, ...]:
        out: list[str] = []
        for claim in item.get_claim_group(prop):
            if claim.rank != "deprecated" and claim.mainsnak.snaktype == "value":
                target = claim.mainsnak.datavalue.value["id"]
                if target not in out:
                    out.append(target)
        return tuple(out)

    batch: list[EntityRecord] = []
    read = 0
    for entity in WikidataJsonDump(str(path)):
        read += 1
        if entity["type"] == "item":
            item = WikidataItem(entity)
            types = targets(item, "P31")
            if DISAMBIGUATION_PAGE in types or SCHOLARLY_ARTICLE in types or not CATEGORY_LIKE.isdisjoint(types):
                continue
            labels = [item.get_label(lang) for lang in langs]
            label = next(filter(None, labels), "")
            if not label:
                continue
            seen, aliases = {label, ""}, []
            for lang, lang_label in zip(langs, labels, strict=True):
                for name in (lang_label, *item.get_aliases(lang)):
                    if name not in seen:
                        seen.add(name)
                        aliases.append(name)
            description = next(filter(None, (item.get_description(lang) for lang in langs)), "")
            sitelinks = len(item.get_sitelinks(prefix=""))
            batch.append(
                EntityRecord(item.entity_id, label, description, tuple(aliases), types, targets(item, "P279"),
                             sitelinks, float(sitelinks))
            )
        if read % 2000 == 0:
            yield batch, read
            batch, read = [], 0
    yield batch, read


def kb_build_records(workers: int, threads: int) -> Callable[[Path], Iterator[tuple[list[EntityRecord], int]]]:
    extractor = Extractor(languages=LANGUAGES)

    def run(path: Path) -> Iterator[tuple[list[EntityRecord], int]]:
        for result in iter_extracted(path, extractor, workers=workers, threads=threads):
            yield result.records, len(result.records) + sum(result.filtered.values()) + len(result.malformed)

    return run


def decompress_stdlib(path: Path) -> int:
    with (gzip.open if path.name.endswith(".gz") else bz2.open)(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 22), b""))


def decompress_kb_build(threads: int) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        with open_dump(path, threads=threads) as f:
            return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 22), b""))

    return run


# --- timing --------------------------------------------------------------------------

_ROW_ENCODER = msgspec.msgpack.Encoder()


def checksum(records: list[EntityRecord], digest: hashlib._Hash) -> None:
    """Adds each record's fields to ``digest``, one record at a time (batch sizes differ between systems)."""
    encode = _ROW_ENCODER.encode
    for r in records:
        digest.update(encode((r.qid, r.label, r.description, r.aliases, r.types, r.superclasses, r.sitelinks,
                              r.popularity)))


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (kb_build's parsing workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], tuple[int, int]]) -> tuple[float, float, tuple[int, int]]:
    cpu, start = cpu_seconds(), time.perf_counter()
    out = run()
    return time.perf_counter() - start, cpu_seconds() - cpu, out


def extraction_pass(system, path: Path, digest: hashlib._Hash | None = None) -> tuple[int, int]:
    kept = read = 0
    for records, n in system(path):
        kept += len(records)
        read += n
        if digest is not None:
            checksum(records, digest)
    return kept, read


def main(argv: list[str] | None = None) -> dict:
    opts = key_value_options(sys.argv[1:] if argv is None else argv, {
        "dump": str(data_dir() / "wikidata" / "arnold" / "arnold-dump.json.gz"),
        "scale": "5",  # copies of the dump's entities
        "cache_dir": str(cache_dir() / "bench"),
        "repeats": "3",  # timed passes per system; the best is reported
        "formats": "gz,bz2", "configs": "1x1,1x2,2x1,2x2",  # kb_build workers x threads
        "systems": "decompress,qwikidata,kb_build"})
    dump, scale, repeats = Path(opts["dump"]), int(opts["scale"]), int(opts["repeats"])
    if not dump.exists():
        raise SystemExit(f"dump not found: {dump} (set GLINKER_DATA_DIR or pass dump=PATH)")
    if scale < 1 or repeats < 1:
        raise SystemExit("scale and repeats must be >= 1")
    files = prepare(dump, scale, Path(opts["cache_dir"]))
    mb = files["bytes"] / 1e6
    wanted = set(opts["systems"].split(","))
    configs = [tuple(int(x) for x in c.split("x")) for c in opts["configs"].split(",") if c]

    # name -> (kind, function, extracts, workers, threads)
    systems: dict[str, tuple] = {}
    if "decompress" in wanted:
        systems["stdlib gzip/bz2"] = ("decompress", decompress_stdlib, "decompression only", 1, 1)
        for t in (1, 2):
            systems[f"kb_build reader, {t} thread{'s' if t > 1 else ''}"] = (
                "decompress", decompress_kb_build(t), "decompression only", 1, t)
    fields = "label, description, aliases, P31, P279, sitelinks; filters"
    if "qwikidata" in wanted:
        systems["qwikidata"] = ("extract", qwikidata_records, fields, 1, 1)
    if "kb_build" in wanted:
        for w, t in configs:
            systems[f"kb_build workers={w} threads={t}"] = ("extract", kb_build_records(w, t), fields, w, t)

    report: dict = {"benchmark": "dump_reading", "dump": str(dump), "scale": scale,
                    "entities": files["entities"], "uncompressed_mb": round(mb, 1), "repeats": repeats,
                    "machine": stamp(), "python": sys.version.split()[0], "formats": {}}
    for fmt in opts["formats"].split(","):
        path = files[fmt]
        rows: dict[str, dict] = {}
        for name, (kind, fn, extracts, w, t) in systems.items():  # untimed first pass: warm-up + checksum
            digest = hashlib.blake2b(digest_size=8)
            if kind == "decompress":
                out = (0, fn(path))
            else:
                out = extraction_pass(fn, path, digest)
            rows[name] = {"system": name, "extracts": extracts, "workers": w, "threads": t, "seconds": float("inf"),
                          "checksum": digest.hexdigest() if kind == "extract" else "", "kept": out[0]}
            if kind == "extract" and out[1] != files["entities"]:
                raise SystemExit(f"{name} read {out[1]} entities from {path}, expected {files['entities']}")
            print(f"{fmt} {name}: first pass done", file=sys.stderr)
        for _ in range(repeats):
            for name, (kind, fn, *_rest) in systems.items():
                if kind == "decompress":
                    wall, cpu, _out = timed(lambda fn=fn, path=path: (0, fn(path)))
                else:
                    wall, cpu, _out = timed(lambda fn=fn, path=path: extraction_pass(fn, path))
                if wall < rows[name]["seconds"]:
                    rows[name].update(seconds=wall, cpu_seconds=cpu)
        base = rows.get("qwikidata", {}).get("seconds")
        for row in rows.values():
            row["mb_per_s"] = round(mb / row["seconds"], 1)
            extracts = row["extracts"] != "decompression only"
            row["entities_per_s"] = round(files["entities"] / row["seconds"]) if extracts else None
            row["vs_qwikidata"] = round(base / row["seconds"], 2) if base and row["entities_per_s"] else None
            row["seconds"], row["cpu_seconds"] = round(row["seconds"], 3), round(row["cpu_seconds"], 3)
        report["formats"][fmt] = {"file": str(path), "compressed_mb": round(path.stat().st_size / 1e6, 1),
                                  "rows": list(rows.values())}
        print_table(fmt, path, mb, files["entities"], rows)
    print(json.dumps(report))
    return report


def print_table(fmt: str, path: Path, mb: float, entities: int, rows: dict[str, dict]) -> None:
    print(f"\n**.json.{fmt}** — `{path.name}`: {entities:,} entities, {mb:.1f} MB uncompressed, "
          f"{path.stat().st_size / 1e6:.1f} MB compressed\n")
    print("| system | extracts | seconds | CPU s | entities/s | MB/s | × qwikidata | kept | checksum |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows.values():
        eps = f"{r['entities_per_s']:,}" if r["entities_per_s"] else "—"
        ratio = f"{r['vs_qwikidata']:.2f}" if r["vs_qwikidata"] else "—"
        kept = f"{r['kept']:,}" if r["checksum"] else "—"
        print(f"| {r['system']} | {r['extracts']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {eps} | "
              f"{r['mb_per_s']:.0f} | {ratio} | {kept} | {r['checksum'] or '—'} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
