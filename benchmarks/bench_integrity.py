#!/usr/bin/env python3
"""What the damaged-dump and damaged-KB checks cost, and how early a truncated dump stops a build.

    python benchmarks/bench_integrity.py [dump=PATH] [repeats=6] [model=DIR]

* Dump: ``check_dump_file`` (suffix vs magic bytes); a decompress-only pass over the dump (what a
  separate verification pass would cost); the build's extraction phase (read, extract, LMDB
  writes) without and with staging the entity texts for :class:`kb_build.local_embed.LocalEmbedder`,
  round-robin, median and best of ``repeats``.
* A copy of the dump cut in half: seconds until ``build_kb`` (default model, already loaded)
  raises, and how many texts it embedded.
* KB open: the demo KB built with the model into a scratch folder (sizes recorded), and the
  cached demo KB if one exists (possibly built before sizes were recorded); median time of each
  open-time check and of ``KnowledgeBase.open``.

Scratch files go to ``$GLINKER_CACHE_DIR/bench/integrity`` and are removed at the end.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import key_value_options, stamp  # benchmarks/common.py

from glinker.errors import DumpError
from glinker.kb import KnowledgeBase
from glinker.kb.integrity import check_lmdb_extent, check_sizes, open_vectors
from glinker.kb.manifest import LMDB_DATA_FILE, read_manifest
from glinker.kb.store import LmdbEntityWriter
from glinker.settings import cache_dir, data_dir
from kb_build.build import DEFAULT_TEMPLATE, build_kb, entity_text
from kb_build.dump import check_dump_file, iter_line_blocks
from kb_build.extract import Extractor, iter_extracted
from kb_build.local_embed import LocalEmbedder


class _Counting:
    """Wraps the real encoder; counts the texts a build asks it to embed."""

    def __init__(self, encoder) -> None:
        self.encoder, self.texts = encoder, 0
        self.name, self.fingerprint, self.dim = encoder.name, encoder.fingerprint, encoder.dim

    def encode_texts_pooled(self, texts, batch_size=64, precision="fp32"):
        self.texts += len(texts)
        return self.encoder.encode_texts_pooled(texts, batch_size=batch_size, precision=precision)


def extraction_seconds(dump: Path, scratch: Path, stage: bool) -> tuple[float, float]:
    """build_kb's reading loop alone (extract, write the LMDB store, ``stage`` the texts): seconds, MB staged."""
    tmp = Path(tempfile.mkdtemp(dir=scratch))
    start = time.perf_counter()
    writer = LmdbEntityWriter(tmp / "entities.lmdb")
    staging = LocalEmbedder(None, progress=False)
    staging.start(tmp, fingerprint="", precision="fp32", batch_size=64)
    row = 0
    for result in iter_extracted(dump, Extractor(), workers=1, batch_lines=2000, threads=1):
        if result.records:
            if stage:
                staging.stage(row, [entity_text(r, DEFAULT_TEMPLATE) for r in result.records])
            for rec in result.records:
                writer.add(dataclasses.replace(rec, row=row))
                row += 1
    writer.close()
    seconds = time.perf_counter() - start
    staged_mb = (tmp / "texts.staged").stat().st_size / 1e6 if stage else 0.0
    staging.abort()
    shutil.rmtree(tmp)
    return seconds, staged_mb


def decompress_seconds(dump: Path) -> float:
    start = time.perf_counter()
    for _ in iter_line_blocks(dump, threads=1):
        pass
    return time.perf_counter() - start


def median_ms(fn, n: int = 200) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def open_costs(kb_dir: Path) -> str:
    manifest = read_manifest(kb_dir)
    n, dim = manifest["index"]["ntotal"], manifest["embeddings"]["dim"]
    kb = KnowledgeBase.open(kb_dir)
    env, data, emb = kb.store.env, kb_dir / LMDB_DATA_FILE, kb_dir / "embeddings.f16.npy"
    sizes = median_ms(lambda: check_sizes(kb_dir, manifest))
    extent = median_ms(lambda: check_lmdb_extent(data, env.info(), env.stat()))
    counts = median_ms(kb.store.counts)
    vectors = 2 * median_ms(lambda: open_vectors(emb, n, dim, kb_dir))
    bare = 2 * median_ms(lambda: np.load(emb, mmap_mode="r"))
    kb.store.close()

    def open_close() -> None:
        KnowledgeBase.open(kb_dir).store.close()

    total = median_ms(open_close, 50)
    return (f"| {kb_dir.name} | {n} | {'files' in manifest} | {sizes:.3f} | {extent:.3f} | {counts:.3f} | "
            f"{vectors:.3f} ({bare:.3f}) | {total:.2f} |")


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"dump": str(data_dir() / "wikidata/arnold/arnold-dump.json.gz"), "repeats": "6",
                                    "model": ""})  # model: detector checkpoint ("": the packaged model)
    dump, repeats = Path(opts["dump"]), int(opts["repeats"])
    if not dump.is_file():
        print(f"dump not found: {dump} (pass dump=PATH)", file=sys.stderr)
        return 2
    print(f"Command: `python benchmarks/bench_integrity.py {' '.join(argv)}`".rstrip() + f" ({stamp()})")
    scratch = cache_dir() / "bench" / "integrity"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        print(f"check_dump_file: {median_ms(lambda: check_dump_file(dump)):.3f} ms")
        plain, staged, unzip, staged_mb = [], [], [], 0.0
        for rep in range(repeats):
            unzip.append(decompress_seconds(dump))
            order = (False, True) if rep % 2 else (True, False)
            for stage in order:
                seconds, mb = extraction_seconds(dump, scratch, stage)
                (staged if stage else plain).append(seconds)
                staged_mb = max(staged_mb, mb)
        print("| pass | median s | best s |\n|---|---|---|")
        for name, xs in [("decompress only", unzip), ("extraction, no staging", plain),
                         (f"extraction + staging ({staged_mb:.1f} MB of texts)", staged)]:
            print(f"| {name} | {statistics.median(xs):.2f} | {min(xs):.2f} |")

        from glinker.detection.bi_encoder import BiEncoderDetector

        encoder = _Counting(BiEncoderDetector(opts["model"] or None))
        data = dump.read_bytes()
        half = scratch / f"half-{dump.name}"
        half.write_bytes(data[: len(data) // 2])
        start = time.perf_counter()
        try:
            build_kb(half, scratch / "half-kb", encoder, progress=False, threads=1)
            print("the half dump built: its truncation was not detected")
        except DumpError as exc:
            print(f"half dump: build_kb failed after {time.perf_counter() - start:.1f} s, "
                  f"{encoder.texts} texts embedded: {exc}")

        from glinker.demo import DEMO_DUMP

        fresh = scratch / "demo-kb"
        build_kb(DEMO_DUMP, fresh, encoder, progress=False)
        print("\n| KB | entities | sizes recorded | sizes ms | LMDB extent ms | entity+row counts ms | "
              "2 .npy checked ms (bare np.load) | KnowledgeBase.open ms |\n|---|---|---|---|---|---|---|---|")
        print(open_costs(fresh))
        cached = cache_dir() / "kb" / f"demo-{encoder.fingerprint}"
        if (cached / "manifest.json").is_file():
            print(open_costs(cached))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
