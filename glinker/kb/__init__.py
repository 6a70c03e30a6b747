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
        self._name_index: FaissEntityIndex | None = None

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r}, entities={self.index.ntotal})"

    @classmethod
    def open(cls, path: str | os.PathLike[str], expect_fingerprint: str | None = None,
             mmap: bool = True) -> KnowledgeBase:
        """Open a KB; refuse it if it was built with another model than ``expect_fingerprint``.

        Cheap integrity checks run first (:mod:`glinker.kb.integrity`: recorded file sizes, LMDB's
        meta page, entity count, vector headers, FAISS read errors), so a truncated or corrupt file
        is a one-line :class:`KBError` that names it and says how to rebuild, never a crash.

        Raises:
            KBError: The KB is missing, damaged, or built with another model.
        """
        kb_dir = Path(path)
        manifest = read_manifest(kb_dir)
        model = manifest.get("model", {})
        if expect_fingerprint is not None and model.get("fingerprint") != expect_fingerprint:
            raise KBError(
                f"KB {kb_dir} was built with model '{model.get('name')}' (fingerprint {model.get('fingerprint')}), "
                f"but the detector's model has fingerprint {expect_fingerprint}: its entity vectors would not match. "
                f"Rebuild the KB with this model (python -m kb_build dump=... output_dir=... model=...) "
                f"or run the detector with the KB's model"
            )
        # cheap checks first (sizes, LMDB meta page, headers), so a damaged file is a KBError, not a crash
        check_sizes(kb_dir, manifest)
        info = manifest.get("index", {})
        ntotal = info.get("ntotal")
        dim = manifest.get("embeddings", {}).get("dim")
        store = LmdbEntityStore(kb_dir / LMDB_DIR)
        try:
            entities, rows = store.counts()
            kept = manifest.get("counts", {}).get("kept", ntotal)
            if kept is not None and (entities, rows) != (kept, kept):
                raise damaged(kb_dir / LMDB_DATA_FILE, f"holds {entities} entities and {rows} rows, the manifest "
                              f"{kept}", kb_dir)
            emb_path = kb_dir / EMBEDDINGS_FILE
            embeddings = open_vectors(emb_path, ntotal, dim, kb_dir) if emb_path.exists() else None
            sent_path = kb_dir / SENTENCE_EMBEDDINGS_FILE
            sentences = open_vectors(sent_path, ntotal, dim, kb_dir) if sent_path.exists() else None
            # search settings (and exact rescoring from the fp16 vectors) as the build recorded them
            index = FaissEntityIndex.from_manifest(kb_dir / INDEX_FILE, info, mmap=mmap, rescore_vectors=embeddings)
            if ntotal is not None and index.ntotal != ntotal:
                raise damaged(kb_dir / INDEX_FILE, f"holds {index.ntotal} vectors, the manifest {ntotal}", kb_dir)
        except BaseException:
            store.close()
            raise
        kb = cls(kb_dir, manifest, store, index, embeddings, sentences)
        kb._mmap = mmap
        return kb

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
        path = self.path / NAME_INDEX_FILE
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
        self._name_index = index
        return index

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray | None:
        """fp32 sentence embeddings for rows (``None`` if the KB has none)."""
        if self.sentences is None:
            return None
        return np.asarray(self.sentences[np.asarray(rows, dtype=np.int64)], dtype=np.float32)


def normalized_rows(vectors: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """fp32 copy of ``vectors`` with every row scaled to unit length (cosine by inner product)."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for s in range(0, len(vectors), chunk):
        block = np.asarray(vectors[s : s + chunk], dtype=np.float32)
        out[s : s + chunk] = block / np.linalg.norm(block, axis=1, keepdims=True).clip(min=1e-9)
    return out
