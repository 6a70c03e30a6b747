"""FAISS index over entity embeddings (inner product), opened memory-mapped."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from glinker.errors import KBError
from glinker.kb.integrity import damaged, faiss_detail, rebuild_advice

# Exact (flat) search takes FAISS's BLAS path only for batches above ``distance_compute_blas_threshold`` queries;
# below it each query is a sequential scan. faiss-cpu 1.15's wheel sets the threshold so high that batches of a
# few hundred queries -- the name index's distinct mention strings of a batch of documents -- scanned at 3 ms a
# query against 61k vectors where the BLAS path takes 0.4 ms (docs/benchmark-history.md, "Linking speed: the name
# index's exact search").
# 20 is FAISS's documented default; the scores are the same inner products, summed in another order.
faiss.cvar.distance_compute_blas_threshold = min(int(faiss.cvar.distance_compute_blas_threshold), 20)

logger = logging.getLogger(__name__)


def default_factory(n: int) -> str:
    """Index type by KB size (FIELD_NOTES §6): exact up to 200k, HNSW up to 5M, IVF-HNSW-SQ8 beyond."""
    if n <= 200_000:
        return "Flat"
    if n <= 5_000_000:
        return "HNSW32,Flat"
    nlist = 65_536 if n <= 50_000_000 else 262_144
    return f"IVF{nlist}_HNSW32,SQ8"


def default_search_params(factory: str) -> dict[str, int]:
    """Search settings recorded in the manifest for an index type: what ``benchmarks/bench_faiss.py`` measured best.

    ``rescore_k`` (exact rescoring from the KB's fp16 vectors) is used for compressed codes.
    """
    parts = factory.split(",")
    params: dict[str, int] = {}
    if any(p.startswith("IVF") for p in parts):
        params["nprobe"] = 64
    elif any(p.startswith("HNSW") for p in parts):
        params["ef_search"] = 128
    if any(p.startswith(("SQ", "PQ")) and p != "SQfp16" for p in parts):
        params["rescore_k"] = 50
    return params


def default_train_points(factory: str, n: int) -> int:
    """Training sample for a factory: 32 per IVF list (≥ 100k), 64k for quantizer-only types (SQ, PQ, OPQ)."""
    nlist = _nlist(factory)
    return min(n, max(100_000, 32 * nlist) if nlist > 1 else 65_536)


def build_index(
    vectors: np.ndarray,
    factory: str,
    path: str | os.PathLike[str],
    *,
    normalize: bool = False,
    mips: bool | None = None,
    train_points: int | None = None,
    chunk: int = 100_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Train (when the type needs it) and fill an inner-product FAISS index from an (n, D) matrix; write it to ``path``.

    ``vectors`` may be an fp16 memmap: at most ``chunk`` rows (and the training sample) are
    held as fp32 at once, so a 10M-entity index builds in bounded memory.

    Args:
        vectors: (n, D) entity vectors, any float dtype.
        factory: FAISS ``index_factory`` string.
        path: Output file (written under a temporary name, then renamed).
        normalize: Scale rows to unit length first (cosine similarity by inner product).
        mips: Append a coordinate ``sqrt(max_norm² - |x|²)`` to every row, so all rows have the
            same norm and maximum inner product becomes nearest-neighbour search (Bachrach et al.
            2014), which HNSW graphs and IVF lists handle well. Without it, unnormalised vectors
            with very different norms make approximate search miss most true neighbours
            (measured in ``benchmarks/bench_faiss.py``). The stored index is wrapped in a FAISS
            transform that pads queries with zeros, so it takes plain D-wide queries and returns
            plain inner products. Rows are padded to a multiple of 16 wide (SQ codes have SIMD
            kernels only for such widths: 10x slower at 385). Default: on for approximate types
            over unnormalised vectors, off for ``Flat``.
        train_points: Training sample size (default :func:`default_train_points`).
        chunk: Rows converted and added per step.
        seed: Seed of the training sample.

    Returns:
        ``train_seconds``, ``add_seconds``, ``train_points``, ``mips_augmented`` and, for IVF
        types, ``imbalance`` (FAISS's list-size imbalance factor, 1.0 = equal lists).
    """
    n, dim = vectors.shape
    augment = (not normalize and factory.strip() != "Flat") if mips is None else bool(mips)
    start = time.perf_counter()
    max_sq = 0.0
    if augment:
        for s in range(0, n, chunk):
            block = np.asarray(vectors[s : s + chunk], dtype=np.float32)
            max_sq = max(max_sq, float(np.einsum("ij,ij->i", block, block).max()))

    width = -(-(dim + 1) // 16) * 16 if augment else dim

    def rows_of(sel: slice | np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(vectors[sel], dtype=np.float32)
        if normalize:
            block /= np.linalg.norm(block, axis=1, keepdims=True).clip(min=1e-9)
        if augment:
            wide = np.zeros((len(block), width), dtype=np.float32)
            wide[:, :dim] = block
            wide[:, dim] = np.sqrt(np.maximum(max_sq - np.einsum("ij,ij->i", block, block), 0.0))
            block = wide
        return block

    try:
        index = faiss.index_factory(width, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise KBError(f"invalid index_factory {factory!r}: {exc}") from exc
    ivf = faiss.try_extract_index_ivf(index)
    used = 0
    if not index.is_trained:
        used = min(n, int(train_points or default_train_points(factory, n)))
        rows = np.sort(np.random.default_rng(seed).choice(n, size=used, replace=False)) if used < n else slice(None)
        assigner = None
        if ivf is not None and ivf.nlist >= 4096:
            # k-means assignment to tens of thousands of centroids is exact (brute force) by default:
            # hours on a few cores at 65k lists; an HNSW over the centroids makes each iteration minutes.
            assigner = faiss.IndexHNSWFlat(ivf.d, 32)
            ivf.clustering_index = assigner
        logger.info("training %s on %d vectors", factory, used)
        index.train(rows_of(rows))
        if assigner is not None:
            ivf.clustering_index = None
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for s in range(0, n, chunk):
        index.add(rows_of(slice(s, s + chunk)))
    add_seconds = time.perf_counter() - start
    stored = index
    if augment:  # queries enter D wide and are zero-padded by FAISS: the file is self-describing
        stored = faiss.IndexPreTransform(faiss.RemapDimensionsTransform(dim, width, False), index)
        stored.ntotal = index.ntotal
    out = Path(path)
    tmp = out.with_name(out.name + ".partial")
    faiss.write_index(stored, str(tmp))
    os.replace(tmp, out)
    facts: dict[str, Any] = {"train_seconds": train_seconds, "add_seconds": add_seconds, "train_points": used,
                             "mips_augmented": augment}
    if ivf is not None:
        facts["imbalance"] = float(ivf.invlists.imbalance_factor())
    return facts


def _nlist(factory: str) -> int:
    for part in factory.split(","):
        if part.startswith("IVF"):
            digits = part[3:].split("_")[0]
            return int(digits) if digits.isdigit() else 1
    return 1


class FaissEntityIndex:
    """Searches span vectors against entity vectors; rows map to QIDs through the store.

    Args:
        path: The ``entities.faiss`` file.
        mmap: Memory-map the index so several processes share one copy.
        nprobe: IVF lists probed per query (IVF indexes only).
        ef_search: HNSW search depth (HNSW indexes, or the HNSW quantizer of IVF ones).
        rescore_vectors: (n, D) entity vectors (e.g. the KB's fp16 memmap) for exact rescoring.
        rescore_k: With ``rescore_vectors``, fetch this many approximate neighbours per query and
            return the top ``k`` of them by exact inner product (0: no rescoring). Recovers the
            ranking lost to compressed codes (SQ8, PQ) at the cost of ``rescore_k`` vector reads.
    """

    rescore_vectors: np.ndarray | None = None
    rescore_k: int = 0

    def __init__(
        self,
        path: str | os.PathLike[str],
        mmap: bool = True,
        nprobe: int = 32,
        ef_search: int = 128,
        rescore_vectors: np.ndarray | None = None,
        rescore_k: int = 0,
    ) -> None:
        if not Path(path).is_file():
            raise KBError(f"FAISS index not found: {path}; {rebuild_advice(Path(path).parent)}")
        self.index = _read_index(Path(path), mmap)
        if rescore_vectors is not None:
            if rescore_vectors.shape != (self.ntotal, self.dim):
                raise KBError(f"{path}: rescoring vectors have shape {rescore_vectors.shape}, the index holds "
                              f"{self.ntotal} vectors of width {self.dim}; {rebuild_advice(Path(path).parent)}")
            self.rescore_vectors = rescore_vectors
        self.set_search_params(nprobe=nprobe, ef_search=ef_search, rescore_k=rescore_k)

    @classmethod
    def from_manifest(
        cls,
        path: str | os.PathLike[str],
        info: dict[str, Any],
        mmap: bool = True,
        rescore_vectors: np.ndarray | None = None,
    ) -> FaissEntityIndex:
        """Open an index with the search settings its KB manifest entry records (older KBs: the defaults)."""
        params = {key: info[key] for key in ("nprobe", "ef_search", "rescore_k") if info.get(key) is not None}
        return cls(path, mmap=mmap, rescore_vectors=rescore_vectors if params.get("rescore_k") else None, **params)

    def set_search_params(
        self, nprobe: int | None = None, ef_search: int | None = None, rescore_k: int | None = None
    ) -> None:
        """Change search effort; ``None`` keeps a setting. The IVF quantizer's HNSW depth is at least ``nprobe``."""
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None and nprobe is not None:
            ivf.nprobe = int(nprobe)
        hnsw = _find_hnsw(self.index)
        if hnsw is not None and (ef_search is not None or nprobe is not None):
            ef = int(ef_search) if ef_search is not None else hnsw.hnsw.efSearch
            # an HNSW quantizer returning fewer than nprobe good lists would silently cap nprobe
            hnsw.hnsw.efSearch = max(ef, ivf.nprobe) if ivf is not None else ef
        if rescore_k is not None:
            self.rescore_k = int(rescore_k) if self.rescore_vectors is not None else 0

    @classmethod
    def exact(cls, vectors: np.ndarray, chunk: int = 65_536) -> FaissEntityIndex:
        """An in-memory exact inner-product index over ``vectors`` (added in fp32 chunks)."""
        self = cls.__new__(cls)
        self.index = faiss.IndexFlatIP(int(vectors.shape[1]))
        for s in range(0, len(vectors), chunk):
            self.index.add(np.ascontiguousarray(vectors[s : s + chunk], dtype=np.float32))
        return self

    @property
    def ntotal(self) -> int:
        """Number of indexed entities."""
        return self.index.ntotal

    @property
    def dim(self) -> int:
        """Vector width (of queries and entity vectors)."""
        return self.index.d

    def search(self, vectors: np.ndarray, k: int, exclude: Exclusion | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and inner-product scores for each query row: (rows, scores), both (n, k).

        ``exclude`` (from :meth:`exclusion`) leaves rows out during the search itself, so the
        ``k`` results are the best ``k`` of the other rows (a KB update's tombstones).
        """
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise KBError(f"query vectors have shape {q.shape}, the index expects width {self.dim}")
        if len(q) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        extra = {} if exclude is None else {"params": exclude.params()}
        if self.rescore_k > k:
            _, rows = self.index.search(q, min(self.rescore_k, max(1, self.ntotal)), **extra)
            return self._rescore(q, rows, k)
        scores, rows = self.index.search(q, min(k, max(1, self.ntotal)), **extra)
        return rows, scores

    def exclusion(self, rows: np.ndarray) -> Exclusion:
        """Search parameters that leave ``rows`` out, for :meth:`search`."""
        return Exclusion(self, rows)

    def _rescore(self, q: np.ndarray, rows: np.ndarray, k: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products of each query with its candidate rows; keep the best ``k``."""
        k = min(k, rows.shape[1])
        out_rows = np.full((len(q), k), -1, dtype=np.int64)
        out_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        for s in range(0, len(q), block):
            cand = rows[s : s + block]
            # one sorted gather per block: sequential-ish reads from a memmap, each row read once
            uniq, inverse = np.unique(np.where(cand < 0, 0, cand), return_inverse=True)
            vecs = np.asarray(self.rescore_vectors[uniq], dtype=np.float32)
            exact = np.matmul(vecs[inverse.reshape(cand.shape)], q[s : s + block, :, None])[:, :, 0]
            exact[cand < 0] = -np.inf
            top = np.argsort(-exact, axis=1, kind="stable")[:, :k]
            out_rows[s : s + block] = np.where(np.take_along_axis(exact, top, 1) > -np.inf,
                                               np.take_along_axis(cand, top, 1), -1)
            out_scores[s : s + block] = np.take_along_axis(exact, top, 1)
        return out_rows, out_scores


class Exclusion:
    """FAISS search parameters that skip a set of rows, with the index's own search effort.

    FAISS takes a row filter only inside ``SearchParameters``, whose effort fields (``nprobe``,
    ``efSearch``) then override the index's own: they are copied from the index each time
    :meth:`params` is asked for, so :meth:`FaissEntityIndex.set_search_params` still applies.
    """

    def __init__(self, index: FaissEntityIndex, rows: np.ndarray) -> None:
        self.index = index
        self._batch = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
        self._not = faiss.IDSelectorNot(self._batch)  # the Python objects own the C++ selectors

    def params(self) -> faiss.SearchParameters:
        """Parameters for one ``search`` call (the selector objects stay owned by this instance)."""
        index = self.index.index
        ivf = faiss.try_extract_index_ivf(index)
        hnsw = _find_hnsw(index)
        if ivf is not None:
            params = faiss.SearchParametersIVF(sel=self._not, nprobe=ivf.nprobe, max_codes=ivf.max_codes)
        elif hnsw is not None:
            params = faiss.SearchParametersHNSW(sel=self._not, efSearch=hnsw.hnsw.efSearch)
        else:
            params = faiss.SearchParameters(sel=self._not)
        if isinstance(faiss.downcast_index(index), faiss.IndexPreTransform):
            inner = params
            params = faiss.SearchParametersPreTransform(index_params=inner)
            params._inner = inner  # keep the wrapped parameters alive with the wrapper
        return params


def _read_index(path: Path, mmap: bool) -> faiss.Index:
    """Read an index (memory-mapped when the type allows); a short or foreign file is a one-line KBError."""
    if mmap:
        for flag in ("IO_FLAG_MMAP_IFC", "IO_FLAG_MMAP"):
            if hasattr(faiss, flag):
                try:
                    return faiss.read_index(str(path), getattr(faiss, flag) | faiss.IO_FLAG_READ_ONLY)
                except RuntimeError as exc:  # not mmappable with this flag (or damaged): try the next
                    logger.debug("mmap with %s failed: %s", flag, exc)
    try:
        return faiss.read_index(str(path))
    except (RuntimeError, MemoryError) as exc:  # MemoryError: a garbage header asking for a huge buffer
        raise damaged(path, f"FAISS: {faiss_detail(exc)}") from None


def _find_hnsw(index: faiss.Index) -> faiss.Index | None:
    inner = faiss.downcast_index(index)
    while isinstance(inner, faiss.IndexPreTransform):  # MIPS padding, OPQ rotation
        inner = faiss.downcast_index(inner.index)
    for cand in (inner, getattr(faiss.try_extract_index_ivf(index), "quantizer", None)):
        if cand is None:
            continue
        down = faiss.downcast_index(cand)
        if hasattr(down, "hnsw"):
            return down
    return None
