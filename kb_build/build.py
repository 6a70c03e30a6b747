"""Build a KB from a Wikidata dump: LMDB entity store, entity embeddings, FAISS index, manifest.

The build happens in a hidden temporary folder beside the target and is renamed
into place only when complete, so a failed or interrupted build never leaves a
half-built KB where one is expected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from glinker.errors import DumpError, KBError
from glinker.kb.index import build_index, default_factory, default_search_params
from glinker.kb.manifest import (
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    INDEX_FILE,
    LMDB_DIR,
    NAME_INDEX_FILE,
    SENTENCE_EMBEDDINGS_FILE,
    file_sizes,
    write_manifest,
)
from glinker.kb.store import LmdbEntityWriter
from glinker.kb.versions import make_reader_lock
from glinker.model.label_tower import PRECISIONS
from glinker.types import EntityRecord
from kb_build.classes import class_coverage, class_references
from kb_build.dump import check_dump_file
from kb_build.extract import Extractor, FilterConfig, iter_extracted
from kb_build.local_embed import LocalEmbedder

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "{label}: {description}"


class EntityEncoder(Protocol):
    """What the builder needs from a detector: label-tower vectors and an identity."""

    name: str
    fingerprint: str
    dim: int

    def encode_texts_pooled(
        self, texts: Sequence[str], batch_size: int = 64, precision: str = "fp32"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Span-space and sentence (mean-pooled) vectors of ``texts``, one row per text each."""
        ...


class DeferredEmbedder(Protocol):
    """Embeds the entity texts after the dump is read, elsewhere (e.g. :class:`kb_build.distributed.RayEmbedder`)."""

    engine: str

    def settings(self) -> dict[str, Any]:
        """What the manifest records about the engine."""
        ...

    def start(self, build_dir: Path, *, fingerprint: str, precision: str, batch_size: int) -> None:
        """Begin a build whose temporary folder is ``build_dir``."""
        ...

    def stage(self, first_row: int, texts: Sequence[str]) -> None:
        """Queue the texts of rows ``first_row, first_row + 1, …``."""
        ...

    def embed_into(self, vectors: np.ndarray, sentences: np.ndarray) -> None:
        """Fill the ``(n_rows, dim)`` span-space and sentence vectors of every staged row."""
        ...

    def abort(self) -> None:
        """Clean up after a failed build."""
        ...


def entity_text(rec: EntityRecord, template: str) -> str:
    """The string embedded for an entity; a template part left empty by a missing field is dropped."""
    if not rec.description and "{description}" in template:
        return rec.label
    return template.format(label=rec.label, description=rec.description, qid=rec.qid)


def build_kb(
    dump: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    encoder: EntityEncoder,
    *,
    languages: Sequence[str] = ("en",),
    filters: FilterConfig | None = None,
    template: str = DEFAULT_TEMPLATE,
    index_factory: str = "auto",
    popularity: str | os.PathLike[str] | None = None,
    workers: int = 1,
    batch_lines: int = 2000,
    embed_batch_size: int = 64,
    embed_precision: str = "fp32",
    error_budget: int = 1000,
    overwrite: bool = False,
    threads: int = 0,
    progress: bool = True,
    embedder: DeferredEmbedder | None = None,
) -> dict[str, Any]:
    """Build a KB and publish it at ``output_dir``; returns the manifest.

    Args:
        dump: Wikidata JSON dump (``.json``, ``.json.gz``, ``.json.bz2``).
        output_dir: Where the finished KB appears.
        encoder: Embeds entity texts (a :class:`glinker.detection.bi_encoder.BiEncoderDetector`).
        languages: Label/description language fallback order.
        filters: Which entities to drop.
        template: Entity text template (``{label}``, ``{description}``, ``{qid}``).
        index_factory: FAISS factory string, or ``"auto"`` to choose by size.
        popularity: Optional ``qid<TAB>score`` table (.tsv/.tsv.gz/.csv).
        workers: Parsing processes.
        batch_lines: Dump lines per parsing batch.
        embed_batch_size: Entity texts per encoder call.
        embed_precision: ``"fp32"`` (exact) or ``"int8"`` (dynamic quantisation of the
            label encoder: faster, lossy; recorded in the manifest).
        error_budget: Malformed lines tolerated before the build fails.
        overwrite: Replace an existing KB at ``output_dir``.
        threads: Decompression threads (0: all cores).
        progress: Show a progress bar.
        embedder: Embed elsewhere once the dump is read (``None``: in this process, also once the
            dump is read: :class:`kb_build.local_embed.LocalEmbedder`). ``encoder`` still names the
            model, its fingerprint and dimension.

    Embedding starts only after the reader has reached the dump's stream end and verified it, so a
    truncated or corrupt compressed dump stops the build before the expensive step.

    Raises:
        DumpError: unreadable, mislabelled (suffix vs compression), truncated or corrupt dump, or
            more malformed lines than ``error_budget``.
        KBError: target exists without ``overwrite``, or nothing was kept.
    """
    started = time.time()
    dump_path = Path(dump)
    target = Path(output_dir)
    if not dump_path.is_file():
        raise DumpError(f"dump not found: {dump_path}")
    check_dump_file(dump_path)  # a mislabelled or random .json.gz is refused before any work
    if target.exists() and not overwrite:
        raise KBError(f"{target} already exists: pass overwrite=true to replace it, or choose another output_dir")
    if embed_precision not in PRECISIONS:
        raise KBError(f"embed_precision={embed_precision!r} is not supported: choose one of {', '.join(PRECISIONS)}")
    filters = filters or FilterConfig()
    pop_table = None
    if popularity:
        from kb_build.popularity import load_popularity

        pop_table = load_popularity(popularity)
    extractor = Extractor(languages=tuple(languages), filters=filters, popularity=pop_table)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    tmp = target.parent / f".{target.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    writer: LmdbEntityWriter | None = None
    try:
        writer = LmdbEntityWriter(tmp / LMDB_DIR)
        raw_path = tmp / "embeddings.raw"
        sent_path = tmp / "sentence.raw"
        counts: Counter[str] = Counter()
        classes: Counter[str] = Counter()  # P31 references, checked against the finished store
        first_errors: list[tuple[int, str]] = []
        n_rows = 0
        bar = tqdm(desc=f"kb_build {dump_path.name}", unit=" ent", disable=not progress, mininterval=1.0)
        if embedder is None:
            embedder = LocalEmbedder(encoder, progress=progress)
        embedder.start(tmp, fingerprint=encoder.fingerprint, precision=embed_precision, batch_size=embed_batch_size)
        # iter_extracted ends only once the reader has reached and verified the dump's stream end:
        # a truncated or corrupt dump raises DumpError here, before anything is embedded
        extracted = iter_extracted(dump_path, extractor, workers=workers, batch_lines=batch_lines, threads=threads)
        for result in extracted:
            counts["malformed"] += len(result.malformed)
            for line_no, msg in result.malformed:
                if len(first_errors) < 5:
                    first_errors.append((line_no, msg))
                    logger.warning("%s line %d: malformed entity skipped: %s", dump_path, line_no, msg)
            if counts["malformed"] > error_budget:
                line_no, msg = first_errors[0]
                raise DumpError(
                    f"{dump_path}: {counts['malformed']} malformed lines, over error_budget={error_budget} "
                    f"(first at line {line_no}: {msg}); fix the dump or raise error_budget"
                )
            for reason, n in result.filtered.items():
                counts[f"filtered.{reason}"] += n
            records = result.records
            if records:
                texts = [entity_text(r, template) for r in records]
                embedder.stage(n_rows, texts)
                for rec in records:
                    writer.add(dataclasses.replace(rec, row=n_rows))
                    classes.update(class_references(rec.types))
                    n_rows += 1
            read = len(records) + sum(result.filtered.values()) + len(result.malformed)
            counts["read"] += read
            bar.update(read)
            bar.set_postfix(kept=n_rows, refresh=False)
        bar.close()
        alias_pairs = writer.alias_pairs
        writer.close()
        writer = None
        if n_rows == 0:
            raise KBError(f"{dump_path}: no entity was kept (read {counts['read']}); check languages and filters")
        class_counts = class_coverage(tmp / LMDB_DIR, classes)
        del classes
        dim = encoder.dim
        embed_started = time.time()
        vectors = np.memmap(raw_path, dtype=np.float16, mode="w+", shape=(n_rows, dim))
        sentences = np.memmap(sent_path, dtype=np.float16, mode="w+", shape=(n_rows, dim))
        embedder.embed_into(vectors, sentences)
        vectors.flush()
        sentences.flush()
        del vectors, sentences
        logger.info("embedding (%s): %.1f s", embedder.engine, time.time() - embed_started)
        vectors = np.memmap(raw_path, dtype=np.float16, mode="r", shape=(n_rows, dim))
        factory = default_factory(n_rows) if index_factory == "auto" else index_factory
        index_facts = build_index(vectors, factory, tmp / INDEX_FILE)
        np.save(tmp / EMBEDDINGS_FILE, vectors, allow_pickle=False)
        del vectors
        raw_path.unlink()
        sentences = np.memmap(sent_path, dtype=np.float16, mode="r", shape=(n_rows, dim))
        np.save(tmp / SENTENCE_EMBEDDINGS_FILE, sentences, allow_pickle=False)
        name_facts = build_index(sentences, factory, tmp / NAME_INDEX_FILE, normalize=True)
        del sentences
        sent_path.unlink()
        filtered = {k.split(".", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("filtered.")}
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": 0,  # raised by each kb_build update / compact
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": {
                "dump": str(dump_path.resolve()),
                "size_bytes": dump_path.stat().st_size,
                "mtime": datetime.fromtimestamp(dump_path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
            },
            "counts": {
                "read": counts["read"],
                "kept": n_rows,
                "filtered": filtered,
                "malformed": counts["malformed"],
                "alias_keys": alias_pairs,
                "classes": class_counts,
            },
            "languages": list(languages),
            "filters": dataclasses.asdict(filters),
            "template": template,
            "popularity": {"path": str(popularity), "entries": len(pop_table)} if pop_table is not None else None,
            "model": {"name": encoder.name, "fingerprint": encoder.fingerprint},
            "embeddings": {"file": EMBEDDINGS_FILE, "dim": dim, "dtype": "float16",
                           "sentence_file": SENTENCE_EMBEDDINGS_FILE, "precision": embed_precision},
            "index": {"file": INDEX_FILE, "factory": factory, "metric": "inner_product", "ntotal": n_rows,
                      **_search_settings(factory, index_facts, rescore=True)},
            "files": file_sizes(tmp),  # checked when the KB is opened: a truncated file is refused, not mapped
            "name_index": {"file": NAME_INDEX_FILE, "factory": factory, "metric": "cosine", "ntotal": n_rows,
                           **_search_settings(factory, name_facts, rescore=False)},
            "build": {
                "seconds": round(time.time() - started, 1),
                "index_seconds": round(sum(f["train_seconds"] + f["add_seconds"] for f in (index_facts, name_facts)),
                                       1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "workers": workers,
                "embedding": embedder.settings(),
            },
        }
        make_reader_lock(tmp)  # readers hold it shared; KB updates remove files only when they can take it
        write_manifest(tmp, manifest)
        _publish(tmp, target)
    except BaseException:
        if writer is not None:
            writer.abort()
        if embedder is not None:
            embedder.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _search_settings(factory: str, facts: dict[str, Any], rescore: bool) -> dict[str, Any]:
    """Manifest fields that ``FaissEntityIndex.from_manifest`` reads back: augmentation and search effort."""
    params = default_search_params(factory)
    if not rescore:  # the name index holds normalised rows; the stored sentence vectors are not
        params.pop("rescore_k", None)
    return {"mips_augmented": facts["mips_augmented"], **params}


def _remove_stale_builds(target: Path) -> None:
    """Delete temporary folders of earlier builds of ``target`` whose process is gone (killed hard)."""
    for stale in target.parent.glob(f".{target.name}.building-*"):
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # raises if no such process
        except ProcessLookupError:
            logger.info("removing the leftovers of an interrupted build: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def _publish(tmp: Path, target: Path) -> None:
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
