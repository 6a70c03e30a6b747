"""The knowledge base: LMDB entity store + FAISS index + fp16 embeddings + manifest."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from glinker.errors import KBError
from glinker.kb.index import FaissEntityIndex
from glinker.kb.integrity import check_sizes, damaged, open_vectors
from glinker.kb.layers import OVERLAY_DIR, TOMBSTONES_FILE, LayeredEntityStore, LayeredIndex, StackedRows
from glinker.kb.manifest import (
    EMBEDDINGS_FILE,
    INDEX_FILE,
    LMDB_DATA_FILE,
    LMDB_DIR,
    NAME_INDEX_FILE,
    SENTENCE_EMBEDDINGS_FILE,
    read_manifest,
)
from glinker.kb.store import LmdbEntityStore
from glinker.kb.versions import ReaderLocks, base_dir, delta_dir, kb_version, read_version
from glinker.types import EntityRecord

logger = logging.getLogger(__name__)

__all__ = ["KnowledgeBase"]


class KnowledgeBase:
    """An opened KB. Build one with ``python -m kb_build``; open it with :meth:`open`.

    A plain class on purpose: config tooling (OmegaConf) would turn a dataclass
    handed to a stage constructor into a config node.

    Args:
        path: KB folder.
        manifest: Its parsed ``manifest.json``.
        store: The LMDB entity store.
        index: The FAISS index.
        embeddings: (n, D) float16 memmap of entity vectors, for exact scores of alias candidates.
        sentences: (n, D) float16 memmap of the entities' sentence embeddings, or None.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        store: LmdbEntityStore,
        index: FaissEntityIndex,
        embeddings: np.ndarray | None,
        sentences: np.ndarray | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.store = store
        self.index = index
        self.embeddings = embeddings
        self.sentences = sentences
        self._mmap = True
        self._name_index: FaissEntityIndex | LayeredIndex | None = None
        self._base_name_index: FaissEntityIndex | None = None
        self._base_dir = path
        self._base_store, self._base_index = store, index
        self._base_embeddings, self._base_sentences = embeddings, sentences
        self._delta: tuple[Path, int, np.ndarray] | None = None
        self._locks = ReaderLocks([])
        self.version = int(manifest.get("version", 0))

    def records_named(self, name: str, limit: int | None = None) -> list[EntityRecord]:
        """The entities with ``name`` as (normalised) label or alias, most popular first, as records."""
        qids = self.store.lookup_alias(name, limit=limit)
        records = self.store.get_many(qids) if qids else {}
        return [records[q] for q in qids if q in records]

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r}, entities={self.index.ntotal})"

    @classmethod
    def open(cls, path: str | os.PathLike[str], expect_fingerprint: str | None = None,
             mmap: bool = True) -> KnowledgeBase:
        """Open a KB; refuse it if it was built with another model than ``expect_fingerprint``.

        Cheap integrity checks run first (:mod:`glinker.kb.integrity`: recorded file sizes, LMDB's
        meta page, entity count, vector headers, FAISS read errors), so a truncated or corrupt file
        is a one-line :class:`KBError` that names it and says how to rebuild, never a crash.

        The KB answers from the version its manifest named when it was opened (a KB updated by
        ``python -m kb_build update`` is its base plus a delta: :mod:`glinker.kb.layers`) until
        :meth:`refresh`.

        Raises:
            KBError: The KB is missing, damaged, or built with another model.
        """
        kb_dir = Path(path)
        for attempt in range(3):
            manifest = read_manifest(kb_dir)
            _check_fingerprint(kb_dir, manifest, expect_fingerprint)
            try:
                kb = cls._open_version(kb_dir, manifest, mmap)
            except KBError:
                # an update may have published a newer version and removed this one's files meanwhile
                if attempt < 2 and read_version(kb_dir) != kb_version(manifest):
                    continue
                raise
            return kb
        raise AssertionError("unreachable")

    @classmethod
    def _open_version(cls, kb_dir: Path, manifest: dict[str, Any], mmap: bool,
                      reuse: KnowledgeBase | None = None) -> KnowledgeBase:
        """Open the files of the version ``manifest`` describes; ``reuse``: a KB whose base is the same."""
        base = base_dir(kb_dir, manifest)
        delta = delta_dir(kb_dir, manifest)
        locks = ReaderLocks([base] + ([delta] if delta is not None else []))
        try:
            if reuse is not None:
                store, index, embeddings, sentences = (reuse._base_store, reuse._base_index, reuse._base_embeddings,
                                                       reuse._base_sentences)
            else:
                store, index, embeddings, sentences = _open_base(kb_dir, base, manifest, mmap)
            kb = cls(kb_dir, manifest, store, index, embeddings, sentences)
            kb._mmap = mmap
            kb._base_dir = base
            if reuse is not None:
                kb._base_name_index = reuse._base_name_index
            if delta is not None:
                kb._open_delta(delta, manifest["delta"])
        except BaseException:
            locks.release()
            raise
        kb._locks = locks
        kb.version = kb_version(manifest)
        return kb

    def _open_delta(self, delta: Path, info: dict[str, Any]) -> None:
        """Put the delta of this version over the base (store, index, vectors)."""
        n_base = int(info["base_rows"])
        dim = self.manifest.get("embeddings", {}).get("dim")
        rows = int(info["rows"])
        tombstones = np.load(delta / TOMBSTONES_FILE, allow_pickle=False)
        d_emb = open_vectors(delta / EMBEDDINGS_FILE, rows, dim, self.path)
        d_sent = open_vectors(delta / SENTENCE_EMBEDDINGS_FILE, rows, dim, self.path)
        d_index = FaissEntityIndex(delta / INDEX_FILE, mmap=False)
        if d_index.ntotal != rows:
            raise damaged(delta / INDEX_FILE, f"holds {d_index.ntotal} vectors, the manifest {rows}", self.path)
        self._delta = (delta, n_base, tombstones)
        self.store = LayeredEntityStore(self._base_store, delta / OVERLAY_DIR, n_base, tombstones, info["entities"])
        self.index = LayeredIndex(self._base_index, d_index, n_base, tombstones)
        if self.embeddings is not None:
            self.embeddings = StackedRows(self.embeddings, d_emb)
        if self.sentences is not None:
            self.sentences = StackedRows(self.sentences, d_sent)

    @property
    def base_rows(self) -> int:
        """Rows of the base files (rows of an update's delta are numbered after them)."""
        return int(self._base_index.ntotal)

    def is_current(self) -> bool:
        """Whether this KB still answers from the newest version on disk (reads the small manifest only)."""
        return read_version(self.path) in (None, self.version)

    def refresh(self) -> bool:
        """Load the newest version if the KB was updated since it was opened; returns whether it did.

        Until then every answer comes from the version opened; afterwards from the new one (the
        base files are shared when an update left them as they were).

        Raises:
            KBError: The new version is damaged or was built with another model.
        """
        if self.is_current():
            return False
        manifest = read_manifest(self.path)
        _check_fingerprint(self.path, manifest, self.fingerprint)
        same_base = base_dir(self.path, manifest) == self._base_dir
        new = self._open_version(self.path, manifest, self._mmap, reuse=self if same_base else None)
        old_locks = self._locks
        self.__dict__.update(new.__dict__)
        old_locks.release()
        return True

    def resolve(self, qid: str) -> str | None:
        """The QID ``qid`` stands for in this KB (its redirect target after an update), or ``None`` if absent."""
        return self.store.resolve(qid)

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint of the model whose label tower embedded the entities."""
        return self.manifest.get("model", {}).get("fingerprint")

    def entity_vectors(self, rows: np.ndarray) -> np.ndarray | None:
        """fp32 entity vectors for rows (``None`` if the KB keeps no embeddings)."""
        if self.embeddings is None:
            return None
        return np.asarray(self.embeddings[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    # KBs built before names.faiss existed get an exact in-memory name index up to this size.
    MAX_IN_MEMORY_NAME_INDEX = 2_000_000

    @property
    def name_index(self) -> FaissEntityIndex:
        """Index over the L2-normalised sentence embeddings (mention text -> entity), opened on first use.

        Built by ``kb_build`` as ``names.faiss``; a KB without it (built by an older version)
        gets an exact in-memory index when small enough.
        """
        if self._name_index is not None:
            return self._name_index
        index = self._base_names()
        if self._delta is not None:
            delta, n_base, tombstones = self._delta
            index = LayeredIndex(index, FaissEntityIndex(delta / NAME_INDEX_FILE, mmap=False), n_base, tombstones)
        self._name_index = index
        return index

    def _base_names(self) -> FaissEntityIndex:
        if self._base_name_index is not None:
            return self._base_name_index
        path = self._base_dir / NAME_INDEX_FILE
        if path.is_file():
            info = self.manifest.get("name_index", {})
            index = FaissEntityIndex.from_manifest(path, info, mmap=self._mmap)
            if info.get("ntotal") is not None and index.ntotal != info["ntotal"]:
                raise damaged(path, f"holds {index.ntotal} vectors, the manifest {info['ntotal']}", self.path)
        elif self.sentences is not None and len(self.sentences) <= self.MAX_IN_MEMORY_NAME_INDEX:
            logger.info("%s has no %s (older build): indexing its %d sentence vectors in memory",
                        self.path, NAME_INDEX_FILE, len(self.sentences))
            index = FaissEntityIndex.exact(normalized_rows(self.sentences))
        else:
            raise KBError(f"KB {self.path} has no name index ({NAME_INDEX_FILE}) for name retrieval; "
                          "rebuild it with this version of kb_build")
        self._base_name_index = index
        return index

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray | None:
        """fp32 sentence embeddings for rows (``None`` if the KB has none)."""
        if self.sentences is None:
            return None
        return np.asarray(self.sentences[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def close(self) -> None:
        """Close the store and let writers remove this version's files once newer ones exist."""
        self.store.close()
        self._locks.release()


def _check_fingerprint(kb_dir: Path, manifest: dict[str, Any], expect: str | None) -> None:
    model = manifest.get("model", {})
    if expect is not None and model.get("fingerprint") != expect:
        raise KBError(
            f"KB {kb_dir} was built with model '{model.get('name')}' (fingerprint {model.get('fingerprint')}), "
            f"but the detector's model has fingerprint {expect}: its entity vectors would not match. "
            f"Rebuild the KB with this model (python -m kb_build dump=... output_dir=... model=...) "
            f"or run the detector with the KB's model"
        )


def _open_base(kb_dir: Path, base: Path, manifest: dict[str, Any], mmap: bool
               ) -> tuple[LmdbEntityStore, FaissEntityIndex, np.ndarray | None, np.ndarray | None]:
    """Open and check the base files (cheap checks first, so a damaged file is a KBError, not a crash)."""
    check_sizes(kb_dir, manifest)
    info = manifest.get("index", {})
    ntotal = info.get("ntotal")
    dim = manifest.get("embeddings", {}).get("dim")
    store = LmdbEntityStore(base / LMDB_DIR)
    try:
        entities, rows = store.counts()
        kept = manifest.get("counts", {}).get("kept", ntotal)
        if kept is not None and (entities, rows) != (kept, kept):
            raise damaged(base / LMDB_DATA_FILE, f"holds {entities} entities and {rows} rows, the manifest {kept}",
                          kb_dir)
        emb_path = base / EMBEDDINGS_FILE
        embeddings = open_vectors(emb_path, ntotal, dim, kb_dir) if emb_path.exists() else None
        sent_path = base / SENTENCE_EMBEDDINGS_FILE
        sentences = open_vectors(sent_path, ntotal, dim, kb_dir) if sent_path.exists() else None
        # search settings (and exact rescoring from the fp16 vectors) as the build recorded them
        index = FaissEntityIndex.from_manifest(base / INDEX_FILE, info, mmap=mmap, rescore_vectors=embeddings)
        if ntotal is not None and index.ntotal != ntotal:
            raise damaged(base / INDEX_FILE, f"holds {index.ntotal} vectors, the manifest {ntotal}", kb_dir)
    except BaseException:
        store.close()
        raise
    return store, index, embeddings, sentences


def normalized_rows(vectors: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """fp32 copy of ``vectors`` with every row scaled to unit length (cosine by inner product)."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for s in range(0, len(vectors), chunk):
        block = np.asarray(vectors[s : s + chunk], dtype=np.float32)
        out[s : s + chunk] = block / np.linalg.norm(block, axis=1, keepdims=True).clip(min=1e-9)
    return out
