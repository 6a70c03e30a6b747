"""Maximum-inner-product search over label vectors, for label sets too big to score exhaustively.

A span's logit for a label is ``dot(span_vector, P[label])`` and does not depend on
which other labels are present (FIELD_NOTES §1.7), so a span's best label is the
answer to a maximum-inner-product query over the rows of P. Two kinds:

* ``"flat"``: exact (FAISS ``IndexFlatIP``). Same answers as scoring every label; it
  scans all labels in bounded blocks, so it saves memory, not time.
* ``"hnsw"``: approximate (FAISS ``IndexHNSWFlat`` with inner product). Visits a few
  thousand labels per query instead of all of them; the returned label's score is
  exact, but it can miss the true best label (top-1 recall is measured by
  ``scripts/bench_labels.py``). Raise ``ef_search`` for more recall.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from glinker.errors import InputError

KINDS = ("flat", "hnsw")


class LabelIndex:
    """Finds each query's best label (largest inner product with a row of P).

    Build with :meth:`build`, or :meth:`load` a file written by :meth:`save`.

    Args:
        index: A FAISS inner-product index over the label vectors.
        ef_search: HNSW search depth (ignored by exact indexes).
    """

    def __init__(self, index: faiss.Index, ef_search: int = 128) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise InputError("a label index must use inner product (FAISS METRIC_INNER_PRODUCT)")
        self.index = index
        self.ef_search = ef_search

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "hnsw", m: int = 32, ef_construction: int = 64,
              ef_search: int = 128, chunk: int = 100_000) -> LabelIndex:
        """Index the rows of ``vectors`` (C, D), adding them in chunks so a float64 or
        memory-mapped input is never copied whole.

        Args:
            vectors: Label vectors P, one row per label, in label order.
            kind: ``"flat"`` (exact) or ``"hnsw"`` (approximate, fast).
            m: HNSW neighbours per node.
            ef_construction: HNSW build-time search depth.
            ef_search: HNSW query-time search depth.
            chunk: Rows added per call.
        """
        if kind not in KINDS:
            raise InputError(f"unknown label index kind {kind!r}: use one of {', '.join(KINDS)}")
        if vectors.ndim != 2 or len(vectors) == 0:
            raise InputError(f"label vectors must be a non-empty (labels, dim) matrix, got shape {vectors.shape}")
        dim = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
        for s in range(0, len(vectors), chunk):
            index.add(np.ascontiguousarray(vectors[s : s + chunk], dtype=np.float32))
        return cls(index, ef_search)

    @classmethod
    def load(cls, path: str | os.PathLike[str], ef_search: int = 128) -> LabelIndex:
        """Read an index written by :meth:`save` (FAISS's own format, no pickle)."""
        return cls(faiss.read_index(str(path)), ef_search)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @property
    def kind(self) -> str:
        """``"hnsw"`` or ``"flat"``."""
        return "hnsw" if isinstance(self.index, faiss.IndexHNSW) else "flat"

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.index.d

    def best(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best label per query row: (logits (n,) float32, label indices (n,) int64)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InputError(f"query vectors have shape {q.shape}, the label index expects width {self.dim}")
        if len(q) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        params = faiss.SearchParametersHNSW(efSearch=self.ef_search) if self.kind == "hnsw" else None
        scores, ids = self.index.search(q, 1, params=params)
        return scores[:, 0], ids[:, 0]
