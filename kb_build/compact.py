"""Fold a KB's delta into new base files (``kb_build compact``).

The entities of the current version are written as a build would write them: the base's live
rows keep their order, and the entities of the delta are merged in by QID number (before the
first base entity with a higher one), so a KB built from a dump sorted by QID (as Wikidata's
are) and then updated compacts to the rows, records, alias lists, vectors and FAISS index that a
build from the updated dump makes. The new base goes to ``base-v<N+1>/`` and is published by
the manifest like any version (:mod:`glinker.kb.versions`); the old base and delta are removed
once no reader holds them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from glinker.kb import KnowledgeBase
from glinker.kb.index import build_index
from glinker.kb.manifest import (
    EMBEDDINGS_FILE,
    INDEX_FILE,
    LMDB_DIR,
    NAME_INDEX_FILE,
    SENTENCE_EMBEDDINGS_FILE,
    file_sizes,
    read_manifest,
    write_manifest,
)
from glinker.kb.store import LmdbEntityWriter
from glinker.kb.versions import BASE_PREFIX, WriterLock, kb_version, kill_point, partial_dir, publish_dir, remove_unused
from glinker.types import EntityRecord
from kb_build.build import _search_settings


def compact_kb(kb_dir: str | os.PathLike[str], progress: bool = True) -> dict[str, Any]:
    """Fold the delta of the KB at ``kb_dir`` into new base files; returns the new manifest (unchanged: no delta).

    Raises:
        KBError: No KB, or another update or compaction is running.
    """
    kb_dir = Path(kb_dir)
    with WriterLock(kb_dir):
        return compact_locked(kb_dir, progress)


def qid_key(qid: str) -> tuple[str, int]:
    """Sort key of a QID: its letter, then its number (Q9 before Q10)."""
    return qid[:1], int(qid[1:]) if qid[1:].isdigit() else -1


def merged_order(kb: KnowledgeBase) -> Iterator[EntityRecord]:
    """The live records of ``kb`` in their compacted row order (rows as they are now)."""
    store = kb.store
    n_base = kb.base_rows
    base, delta = [], []
    for rec in store.iter_records():
        (base if rec.row < n_base else delta).append(rec)
    base.sort(key=lambda r: r.row)
    delta.sort(key=lambda r: qid_key(r.qid))
    j = 0
    for rec in base:
        key = qid_key(rec.qid)
        while j < len(delta) and qid_key(delta[j].qid) < key:
            yield delta[j]
            j += 1
        yield rec
    yield from delta[j:]


def compact_locked(kb_dir: Path, progress: bool = True) -> dict[str, Any]:
    """:func:`compact_kb` for a caller that holds the KB's writer lock."""
    started = time.time()
    manifest = read_manifest(kb_dir)
    if not manifest.get("delta"):
        remove_unused(kb_dir, manifest)
        return manifest
    version = kb_version(manifest) + 1
    final_name = f"{BASE_PREFIX}{version}"
    kb = KnowledgeBase.open(kb_dir)
    tmp = partial_dir(kb_dir, final_name)
    try:
        records = list(merged_order(kb))
        n, dim = len(records), manifest["embeddings"]["dim"]
        writer = LmdbEntityWriter(tmp / LMDB_DIR)
        try:
            for row, rec in enumerate(tqdm(records, desc="compacting", unit=" ent", disable=not progress,
                                           mininterval=1.0)):
                writer.add(dataclasses.replace(rec, row=row))
        except BaseException:
            writer.abort()
            raise
        alias_pairs = writer.alias_pairs
        writer.close()
        old_rows = np.fromiter((r.row for r in records), dtype=np.int64, count=n)
        for name, source in ((EMBEDDINGS_FILE, kb.embeddings), (SENTENCE_EMBEDDINGS_FILE, kb.sentences)):
            out = np.lib.format.open_memmap(tmp / name, mode="w+", dtype=np.float16, shape=(n, dim))
            for s in range(0, n, 65_536):
                out[s : s + 65_536] = source[old_rows[s : s + 65_536]]
            out.flush()
            del out
        kill_point("compact_vectors")
        factory = manifest["index"]["factory"]
        vectors = np.load(tmp / EMBEDDINGS_FILE, mmap_mode="r")
        index_facts = build_index(vectors, factory, tmp / INDEX_FILE)
        sentences = np.load(tmp / SENTENCE_EMBEDDINGS_FILE, mmap_mode="r")
        name_facts = build_index(sentences, factory, tmp / NAME_INDEX_FILE, normalize=True)
        del vectors, sentences
        publish_dir(tmp, kb_dir / final_name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        kb.close()
    kill_point("compact_published")
    new = {k: v for k, v in manifest.items() if k != "delta"}
    new["version"] = version
    new["base"] = final_name
    new["counts"] = {**manifest["counts"], "kept": n, "alias_keys": alias_pairs}
    new["index"] = {**manifest["index"], "ntotal": n, **_search_settings(factory, index_facts, rescore=True)}
    new["name_index"] = {**manifest["name_index"], "ntotal": n, **_search_settings(factory, name_facts, rescore=False)}
    new["files"] = {f"{final_name}/{k}": v for k, v in file_sizes(kb_dir / final_name).items()}
    new["compacted"] = {"from_version": kb_version(manifest), "seconds": round(time.time() - started, 1)}
    write_manifest(kb_dir, new)
    kill_point("compact_manifest")
    remove_unused(kb_dir, new)
    return new
