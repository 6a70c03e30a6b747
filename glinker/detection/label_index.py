"""Maximum-inner-product search over label vectors, for label sets too big to score exhaustively.

A span's logit for a label is ``dot(span_vector, P[label])`` and does not depend on
which other labels are present (FIELD_NOTES §1.7), so a span's best label is the
answer to a maximum-inner-product query over the rows of P. Three kinds:

* ``"flat"``: exact (FAISS ``IndexFlatIP``). Same answers as scoring every label; it
  scans all labels in bounded blocks, so it saves memory, not time.
* ``"ivf"``: exact (FAISS ``IndexIVFFlat``; k-means lists of label vectors, each with
  its radius). A list's labels score at most ``q·c + ‖q‖·r`` for centroid ``c`` and radius
  ``r``, so :meth:`LabelIndex.best` scans only the lists whose bound beats both the
  detection threshold and the best score found in the ``nprobe`` most promising lists:
  the answer is the exact best label for every span that passes the threshold, and a
  span that no list can lift over the threshold is not searched at all. Fast only where
  the bounds are tight: on 10^5 real labels half the CoNLL spans need no search and the
  median span one list, but spans whose logits all lie near 0 need most lists, and on
  10^6 labels no span is ruled out. Optionally fp16 storage (half the memory; scores
  then use fp16-rounded label vectors, which flips near-ties).
* ``"hnsw"``: approximate (FAISS ``IndexHNSWFlat`` with inner product). Visits a few
  thousand labels per query instead of all of them; the returned label's score is
  exact, but it can miss the true best label (top-1 recall is measured by
  ``benchmarks/bench_label_index.py``). Raise ``ef_search`` for more recall. Given the
  detection threshold, every span first takes a shallow walk and only the few that come
  near the threshold walk again at ``ef_search`` (see ``FIRST_EF``).

The HNSW and IVF indexes hold the label vectors minus their mean μ. Label vectors share a large
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

KINDS = ("flat", "ivf", "hnsw")
# HNSW with a cut: every query walks the graph at depth FIRST_EF first, and again at full depth where
# that answer lies within RECHECK_MARGIN of the cut. On 10^5 real labels and 11,195 CoNLL spans a
# depth-8 walk fell short of the best score of a span above the threshold by at most 0.47 (logit),
# 2.7 % of the spans came within 1.0 of it, and depth 8 then 128 decided every span as depth 64
# alone did at 0.4× its time (benchmarks/bench_label_index.py)
FIRST_EF = 8
RECHECK_MARGIN = 1.0
# the bound q·c + ‖q‖·r is computed in float32 by a matrix product, the scores by FAISS's own loops:
# a list is scanned unless its bound falls short by more than this (far above either rounding)
_BOUND_SLACK = 1e-3


class LabelIndex:
    """Finds each query's best label (largest inner product with a row of P).

    Build with :meth:`build`, or :meth:`load` a file written by :meth:`save`.

    Args:
        index: A FAISS inner-product index over the label vectors (minus ``mean``).
        mean: The vector subtracted from every label vector before indexing, if any.
        ef_search: HNSW search depth (ignored by the other kinds).
        radii: IVF only: per list, the largest distance of its (centred) vectors from its centroid.
        nprobe: IVF only: lists scanned first, whose best score decides which other lists can hold better
            (0: none, every list whose bound passes the threshold is scanned at once).

    ``first_ef`` and ``recheck_margin`` (HNSW searches with a cut) and ``prune`` (IVF) are attributes
    that may be changed between searches.
    """

    def __init__(self, index: faiss.Index, mean: np.ndarray | None = None, ef_search: int = 64,
                 radii: np.ndarray | None = None, nprobe: int = 4) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise InputError("a label index must use inner product (FAISS METRIC_INNER_PRODUCT)")
        if mean is not None and mean.shape != (index.d,):
            raise InputError(f"label index mean has shape {mean.shape}, expected ({index.d},)")
        self.index = index
        self.mean = None if mean is None else mean.astype(np.float32)
        self.ef_search = ef_search
        self.first_ef = FIRST_EF
        self.recheck_margin = RECHECK_MARGIN
        self.nprobe = nprobe
        self.prune = True
        self.radii = self.centroids = None
        if isinstance(index, faiss.IndexIVF):
            if radii is None or radii.shape != (index.nlist,):
                raise InputError(f"an IVF label index needs its {index.nlist} list radii (written by save)")
            self.radii = radii.astype(np.float32)
            self.centroids = index.quantizer.reconstruct_n(0, index.nlist)
            self._lifted_centroids = np.hstack([self.centroids, self.radii[:, None],
                                                np.ones((index.nlist, 1), np.float32)])

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "hnsw", m: int = 32, ef_construction: int = 64,
              ef_search: int = 64, nlist: int | None = None, nprobe: int = 4, fp16: bool = False,
              chunk: int = 100_000) -> LabelIndex:
        """Index the rows of ``vectors`` (C, D), adding them in chunks so a float64 or
        memory-mapped input is never copied whole.

        Args:
            vectors: Label vectors P, one row per label, in label order.
            kind: ``"flat"`` (exact), ``"ivf"`` (exact above the threshold) or ``"hnsw"``
                (approximate, fast).
            m: HNSW neighbours per node.
            ef_construction: HNSW build-time search depth.
            ef_search: HNSW query-time search depth.
            nlist: IVF lists (default about 4·√C, at most 8,192).
            nprobe: IVF lists scanned first (see :meth:`best`).
            fp16: IVF: store the label vectors in half precision.
            chunk: Rows added per call.
        """
        if kind not in KINDS:
            raise InputError(f"unknown label index kind {kind!r}: use one of {', '.join(KINDS)}")
        if vectors.ndim != 2 or len(vectors) == 0:
            raise InputError(f"label vectors must be a non-empty (labels, dim) matrix, got shape {vectors.shape}")
        dim = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
            for s in range(0, len(vectors), chunk):
                index.add(np.ascontiguousarray(vectors[s : s + chunk], dtype=np.float32))
            return cls(index)
        total = np.zeros(dim, np.float64)
        for s in range(0, len(vectors), chunk):
            total += vectors[s : s + chunk].sum(axis=0, dtype=np.float64)
        mean = (total / len(vectors)).astype(np.float32)

        def rows(s: int) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(vectors[s : s + chunk], dtype=np.float32) - mean)

        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            for s in range(0, len(vectors), chunk):
                index.add(rows(s))
            return cls(index, mean, ef_search)
        nlist = int(nlist or min(8192, max(1, round(4 * len(vectors) ** 0.5))))
        # lists are balls around L2 k-means centroids (tight radii); scanning scores by inner product
        quantizer = faiss.IndexFlatL2(dim)
        if fp16:
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16,
                                                  faiss.METRIC_INNER_PRODUCT)
            index.by_residual = False  # scores need no coarse term: lists are scanned from preassigned ids
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # plain (not spherical, as FAISS trains inner-product IVF) k-means, on a sample: minutes less at 10^6
        # labels; centroids in the middle of their vectors keep the radii, hence the bounds, tight
        sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 64 * nlist), replace=False)
        kmeans = faiss.Kmeans(dim, nlist, niter=10, seed=0, max_points_per_centroid=64)
        kmeans.train(np.ascontiguousarray(np.asarray(vectors[np.sort(sample)], dtype=np.float32) - mean))
        quantizer.add(kmeans.centroids)
        index.is_trained = True
        radii = np.zeros(nlist, np.float32)
        centroids = quantizer.reconstruct_n(0, nlist)
        for s in range(0, len(vectors), chunk):
            x = rows(s)
            _, assign = quantizer.search(x, 1)
            stored = x.astype(np.float16).astype(np.float32) if fp16 else x
            dist = np.linalg.norm(stored - centroids[assign[:, 0]], axis=1)
            np.maximum.at(radii, assign[:, 0], dist)
            # added to the lists the radii were measured on (not re-assigned)
            index.add_core(len(x), faiss.swig_ptr(x), None, faiss.swig_ptr(np.ascontiguousarray(assign[:, 0])))
        return cls(index, mean, ef_search, radii, nprobe)

    @classmethod
    def load(cls, path: str | os.PathLike[str], ef_search: int = 64, nprobe: int = 4) -> LabelIndex:
        """Read an index written by :meth:`save` (FAISS's own format and ``.npy``, no pickle)."""
        mean_path, radii_path = _side_path(path, "mean"), _side_path(path, "radii")
        mean = np.load(mean_path, allow_pickle=False) if mean_path.exists() else None
        radii = np.load(radii_path, allow_pickle=False) if radii_path.exists() else None
        return cls(faiss.read_index(str(path)), mean, ef_search, radii, nprobe)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index (and ``<path>.mean.npy`` when centred, ``<path>.radii.npy`` for IVF), each atomically.

        The side files are written first: an index file never exists without them.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for name, arr in (("mean", self.mean), ("radii", self.radii)):
            if arr is None:
                _side_path(path, name).unlink(missing_ok=True)
            else:
                tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.npy")
                np.save(tmp, arr, allow_pickle=False)
                os.replace(tmp, _side_path(path, name))
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    @property
    def kind(self) -> str:
        """``"flat"``, ``"ivf"`` or ``"hnsw"``."""
        if isinstance(self.index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.index.d

    def best(self, queries: np.ndarray, cut: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best label per query row: (logits (n,) float32, label indices (n,) int64).

        ``cut``: only answers above this logit are wanted (the detection threshold). The IVF
        kind then skips, exactly, every list (and every query, when ``prune`` is on) that
        cannot score above it; a query with no label above ``cut`` may get any score at or
        below it and label -1. Without ``cut`` the IVF answer is the exact best label. HNSW
        searches deeply only the queries a shallow walk brings near ``cut``.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InputError(f"query vectors have shape {q.shape}, the label index expects width {self.dim}")
        if len(q) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        shift = np.zeros(len(q), np.float32) if self.mean is None else q @ self.mean
        if self.kind == "ivf":
            scores, ids = self._ivf_best(q, None if cut is None else cut - shift)
        elif self.kind == "hnsw" and cut is not None and self.first_ef < self.ef_search:
            # a shallow walk for every span; the full depth only where the shallow answer comes near the
            # cut: a shallow walk falls short of a span's best score by far less than the margin
            scores, ids = self._hnsw(q, self.first_ef)
            again = np.flatnonzero(scores + shift > cut - self.recheck_margin)
            if len(again):
                scores[again], ids[again] = self._hnsw(q[again], self.ef_search)
        else:
            scores, ids = self._hnsw(q, self.ef_search) if self.kind == "hnsw" else self._flat(q)
        return scores + shift, ids

    def _hnsw(self, q: np.ndarray, ef: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(q, 1, params=faiss.SearchParametersHNSW(efSearch=ef))
        return scores[:, 0], ids[:, 0]

    def _flat(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(q, 1)
        return scores[:, 0], ids[:, 0]

    def _ivf_best(self, q: np.ndarray, floor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact search by list bounds; ``floor``: per query, the centred score an answer must beat."""
        n = len(q)
        # one matrix product gives every list's bound minus the floor: [q, ‖q‖, slack - floor]·[c, r, 1]
        lifted = np.empty((n, self.dim + 2), np.float32)
        lifted[:, : self.dim] = q
        lifted[:, self.dim] = np.linalg.norm(q, axis=1)
        lifted[:, self.dim + 1] = _BOUND_SLACK - (0.0 if floor is None else floor)
        excess = lifted @ self._lifted_centroids.T  # (n, nlist)
        top = excess.max(axis=1)
        base = np.zeros(n, np.float32) if floor is None else floor
        scores = (top + base).astype(np.float32)  # a pruned query's answer: its bound, under its floor
        ids = np.full(n, -1, np.int64)
        rows = np.flatnonzero(top > 0) if floor is not None and self.prune else np.arange(n)
        if len(rows) == 0:
            return scores, ids
        qt, et = q[rows], excess[rows]
        s1, i1 = np.full(len(rows), -np.inf, np.float32), np.full(len(rows), -1, np.int64)
        first = min(self.nprobe, et.shape[1])
        if first > 0 or floor is None:  # the most promising lists first: their best rules out more of the rest
            first = max(first, 1)
            probe = np.argpartition(-et, first - 1, axis=1)[:, :first]
            s1, i1 = self._scan(qt, probe)
            et[np.arange(len(rows))[:, None], probe] = -np.inf
        # every other list that could hold a better label than the first lists' best (and than the floor)
        need = s1 - base[rows] if floor is None else np.maximum(s1 - base[rows], 0.0)
        r, c = np.nonzero(et > need[:, None])
        if len(r):
            counts = np.bincount(r, minlength=len(rows))
            lists = np.full((len(rows), int(counts.max())), -1, np.int64)
            lists[r, np.arange(len(r)) - (np.cumsum(counts) - counts)[r]] = c
            s2, i2 = self._scan(qt, lists)
            better = s2 > s1
            s1, i1 = np.where(better, s2, s1), np.where(better, i2, i1)
        scores[rows], ids[rows] = s1, i1
        return scores, ids

    def _scan(self, q: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best label of each query within its lists (``-1``: no list)."""
        self.index.nprobe = lists.shape[1]
        scores, ids = self.index.search_preassigned(q, 1, lists, None)
        return np.where(ids[:, 0] >= 0, scores[:, 0], -np.inf).astype(np.float32), ids[:, 0]


def _side_path(path: str | os.PathLike[str], name: str) -> Path:
    return Path(f"{path}.{name}.npy")
