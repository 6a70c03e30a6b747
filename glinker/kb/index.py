"""FAISS index over entity embeddings (inner product), opened memory-mapped."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import faiss
import numpy as np

from glinker.errors import KBError

logger = logging.getLogger(__name__)


def default_factory(n: int) -> str:
    """Index type by KB size (FIELD_NOTES §6): exact up to 200k, HNSW up to 5M, IVF-HNSW-SQ8 beyond."""
    if n <= 200_000:
        return "Flat"
    if n <= 5_000_000:
        return "HNSW32,Flat"
    nlist = 65_536 if n <= 50_000_000 else 262_144
    return f"IVF{nlist}_HNSW32,SQ8"


class FaissEntityIndex:
    """Searches span vectors against entity vectors; rows map to QIDs through the store.

    Args:
        path: The ``entities.faiss`` file.
        mmap: Memory-map the index so several processes share one copy.
        nprobe: IVF lists probed per query (IVF indexes only).
        ef_search: HNSW search depth (HNSW indexes only).
    """

    def __init__(self, path: str | os.PathLike[str], mmap: bool = True, nprobe: int = 32, ef_search: int = 128) -> None:
        if not Path(path).is_file():
            raise KBError(f"FAISS index not found: {path}; rebuild the KB")
        index = None
        if mmap:
            for flag in ("IO_FLAG_MMAP_IFC", "IO_FLAG_MMAP"):
                if hasattr(faiss, flag):
                    try:
                        index = faiss.read_index(str(path), getattr(faiss, flag) | faiss.IO_FLAG_READ_ONLY)
                        break
                    except RuntimeError as exc:  # not mmappable with this flag: try the next
                        logger.debug("mmap with %s failed: %s", flag, exc)
        if index is None:
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as exc:
                raise KBError(f"cannot read FAISS index {path}: {exc}; rebuild the KB") from exc
        self.index = index
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.nprobe = nprobe
        hnsw = _find_hnsw(index)
        if hnsw is not None:
            hnsw.hnsw.efSearch = ef_search

    @property
    def ntotal(self) -> int:
        """Number of indexed entities."""
        return self.index.ntotal

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.index.d

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and inner-product scores for each query row: (rows, scores), both (n, k)."""
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise KBError(f"query vectors have shape {q.shape}, the index expects width {self.dim}")
        if len(q) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        scores, rows = self.index.search(q, min(k, max(1, self.ntotal)))
        return rows, scores


def _find_hnsw(index: faiss.Index) -> faiss.Index | None:
    for cand in (index, getattr(faiss.try_extract_index_ivf(index), "quantizer", None)):
        if cand is None:
            continue
        down = faiss.downcast_index(cand)
        if hasattr(down, "hnsw"):
            return down
    return None
