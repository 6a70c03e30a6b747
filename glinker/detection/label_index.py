"""Maximum-inner-product search over label vectors, for label sets too big to score exhaustively.

A span's logit for a label is ``dot(span_vector, P[label])`` and does not depend on
which other labels are present (FIELD_NOTES §1.7), so a span's best label is the
answer to a maximum-inner-product query over the rows of P. Two kinds:

* ``"flat"``: exact (FAISS ``IndexFlatIP``). Same answers as scoring every label; it
  scans all labels in bounded blocks, so it saves memory, not time.
* ``"hnsw"``: approximate (FAISS ``IndexHNSWFlat`` with inner product). Visits a few
  thousand labels per query instead of all of them; the returned label's score is
  exact, but it can miss the true best label (top-1 recall is measured by
  ``benchmarks/bench_labels.py``). Raise ``ef_search`` for more recall.

The HNSW index holds the label vectors minus their mean μ. Label vectors share a large
common component (default model: ‖μ‖ ≈ 5.1 for ‖p‖ ≈ 5.8) and span vectors point
mostly against it, so on raw vectors the inner-product graph walk finds the best label
for almost no span (top-1 recall 0.4 % on the arnold KB vectors, 99.9 % centred).
Centring changes no ranking, ``q·p = q·(p − μ) + q·μ`` and ``q·μ`` is the same for every
label, and the score is restored by adding ``q·μ``.
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
        index: A FAISS inner-product index over the label vectors (minus ``mean``).
        mean: The vector subtracted from every label vector before indexing, if any.
        ef_search: HNSW search depth (ignored by exact indexes).
    """

    def __init__(self, index: faiss.Index, mean: np.ndarray | None = None, ef_search: int = 64) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise InputError("a label index must use inner product (FAISS METRIC_INNER_PRODUCT)")
        if mean is not None and mean.shape != (index.d,):
            raise InputError(f"label index mean has shape {mean.shape}, expected ({index.d},)")
        self.index = index
        self.mean = None if mean is None else mean.astype(np.float32)
        self.ef_search = ef_search

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "hnsw", m: int = 32, ef_construction: int = 64,
              ef_search: int = 64, chunk: int = 100_000) -> LabelIndex:
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
        mean = None
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            total = np.zeros(dim, np.float64)
            for s in range(0, len(vectors), chunk):
                total += vectors[s : s + chunk].sum(axis=0, dtype=np.float64)
            mean = (total / len(vectors)).astype(np.float32)
        for s in range(0, len(vectors), chunk):
            rows = np.asarray(vectors[s : s + chunk], dtype=np.float32)
            index.add(np.ascontiguousarray(rows if mean is None else rows - mean))
        return cls(index, mean, ef_search)

    @classmethod
    def load(cls, path: str | os.PathLike[str], ef_search: int = 64) -> LabelIndex:
        """Read an index written by :meth:`save` (FAISS's own format and ``.npy``, no pickle)."""
        mean_path = _mean_path(path)
        mean = np.load(mean_path, allow_pickle=False) if mean_path.exists() else None
        return cls(faiss.read_index(str(path)), mean, ef_search)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index (and ``<path>.mean.npy`` when centred), each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.mean is None:
            _mean_path(path).unlink(missing_ok=True)
        else:  # written first: an index file never exists without its mean
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.npy")
            np.save(tmp, self.mean, allow_pickle=False)
            os.replace(tmp, _mean_path(path))
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
        best = scores[:, 0] if self.mean is None else scores[:, 0] + q @ self.mean
        return best, ids[:, 0]


def _mean_path(path: str | os.PathLike[str]) -> Path:
    return Path(f"{path}.mean.npy")
