"""The knowledge base: LMDB entity store + FAISS index + fp16 embeddings + manifest."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from glinker.errors import KBError
from glinker.kb.index import FaissEntityIndex
from glinker.kb.manifest import EMBEDDINGS_FILE, INDEX_FILE, LMDB_DIR, SENTENCE_EMBEDDINGS_FILE, read_manifest
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

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r}, entities={self.index.ntotal})"

    @classmethod
    def open(cls, path: str | os.PathLike[str], expect_fingerprint: str | None = None, mmap: bool = True) -> KnowledgeBase:
        """Open a KB; refuse it if it was built with another model than ``expect_fingerprint``."""
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
        store = LmdbEntityStore(kb_dir / LMDB_DIR)
        index = FaissEntityIndex(kb_dir / INDEX_FILE, mmap=mmap)
        emb_path = kb_dir / EMBEDDINGS_FILE
        embeddings = np.load(emb_path, mmap_mode="r", allow_pickle=False) if emb_path.exists() else None
        sent_path = kb_dir / SENTENCE_EMBEDDINGS_FILE
        sentences = np.load(sent_path, mmap_mode="r", allow_pickle=False) if sent_path.exists() else None
        if index.ntotal != manifest.get("index", {}).get("ntotal", index.ntotal):
            raise KBError(f"KB {kb_dir}: index holds {index.ntotal} vectors, manifest says otherwise; rebuild the KB")
        return cls(kb_dir, manifest, store, index, embeddings, sentences)

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint of the model whose label tower embedded the entities."""
        return self.manifest.get("model", {}).get("fingerprint")

    def entity_vectors(self, rows: np.ndarray) -> np.ndarray | None:
        """fp32 entity vectors for rows (``None`` if the KB keeps no embeddings)."""
        if self.embeddings is None:
            return None
        return np.asarray(self.embeddings[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray | None:
        """fp32 sentence embeddings for rows (``None`` if the KB has none)."""
        if self.sentences is None:
            return None
        return np.asarray(self.sentences[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
