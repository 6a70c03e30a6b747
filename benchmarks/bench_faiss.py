"""FAISS index types for dense entity retrieval at the real KB size, 1M and 10M entities, side by side.

    python benchmarks/bench_faiss.py [scales=[real,1M,10M]] [kb_dir=kb/arnold] [indexes="F1;F2"] [build_only=false]
        [names=2000] [mention_docs=80] [exact_queries=1000] [threads=2] [cache_dir=~/.cache/glinker/bench/faiss]

* ``real``: the KB's own entity vectors (``embeddings.f16.npy``: fp16 span-space vectors, inner
  product, not normalised). ``1M``/``10M``: the real vectors followed by synthetic ones drawn from
  a Gaussian mixture fitted to them (k-means centres, each cluster's own residual covariance plus
  a little isotropic noise), generated in chunks into an fp16 ``.npy`` memmap under ``cache_dir``.
* Queries, computed once with the KB's model: the label-tower vectors of ``names`` real entity
  labels (what a name query looks like) and the span vectors of the mentions the detector finds in
  the first ``mention_docs`` ELEVANT dev texts (what ``DenseRetriever`` sends today).
* Exact top-10 by chunked brute force over the fp16 memmap (fp32 BLAS, one chunk at a time),
  cached; its speed on ``exact_queries`` queries, timed in every run, is the "exact" baseline.
* Every index is built (in a child process, so its peak RSS is its own) through
  ``glinker.kb.index.build_index`` and cached by parameters; it is then searched (another child)
  through ``FaissEntityIndex`` opened memory-mapped, over a sweep of nprobe / efSearch / exact
  rescoring of the top candidates from the fp16 memmap; a third child loads it fully, for the RSS
  comparison. QPS: all queries in one batch, ``threads`` OpenMP threads.

Everything is cached, so an interrupted run resumes; ``build_only=true`` stops after building
(run long 10M builds alone under ``flock /tmp/bench.lock``). Prints Markdown tables, a JSON line last.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# OpenMP threads that sleep instead of spinning while waiting: on a shared 2-core box spinning
# threads fight the other jobs (2 threads measured slower than 1 without this). Inherited by children.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

K = 10
GOAL_RECALL, GOAL_SPEEDUP = 0.95, 20.0
EF = [16, 32, 64, 128, 256, 512, 1024]
NPROBE = [8, 16, 32, 64, 128, 256]
RAW = "@raw"  # factory suffix: build without the MIPS augmentation (glinker.kb.index.build_index(mips=False))


def _ef(values: list[int], rescore: tuple[int, ...] = ()) -> list[dict[str, int]]:
    return [{"ef_search": e, "rescore_k": r} for r in (0, *rescore) for e in values]


def _ivf(values: list[int], rescore: tuple[int, ...] = ()) -> list[dict[str, int]]:
    return [{"nprobe": p, "ef_search": max(64, 2 * p), "rescore_k": r} for r in (0, *rescore) for p in values]


def configs_for(n: int, space: str) -> list[tuple[str, list[dict[str, int]]]]:
    """Candidate index types per scale (FIELD_NOTES §6) with their search-effort sweeps.

    At the real size the span space also gets the plain (not MIPS-augmented) HNSW and IVF, to show
    why the augmentation is on by default; the name space is unit-length, where it changes nothing.
    """
    if n <= 200_000:
        raw = [("HNSW32,Flat" + RAW, _ef(EF)), ("IVF1024,SQ8" + RAW, _ivf(NPROBE))] if space == "span" else []
        return [("Flat", [{}]), *raw, ("HNSW32,Flat", _ef(EF)), ("HNSW32,SQ8", _ef(EF, (50,))),
                ("IVF1024,SQ8", _ivf(NPROBE, (50,)))]
    if n <= 2_000_000:
        return [("Flat", [{}]), ("HNSW32,Flat", _ef(EF)), ("HNSW32,SQ8", _ef(EF, (50,))),
                ("IVF4096_HNSW32,SQ8", _ivf(NPROBE, (50,)))]
    return [("HNSW32,SQ8", _ef(EF, (50,))), ("IVF65536_HNSW32,SQ8", _ivf(NPROBE, (50,))),
            ("OPQ64_256,IVF65536_HNSW32,PQ64", _ivf(NPROBE, (50, 100)))]


def sweep_for(spec: str) -> list[dict[str, int]]:
    """Sweep for an index given on the command line."""
    if "IVF" in spec:
        return _ivf(NPROBE, (50, 100))
    return _ef(EF, (50,)) if "HNSW" in spec else [{}]


# --- process helpers ------------------------------------------------------------------------------


def proc_mem_mb() -> dict[str, float]:
    """This process's resident memory from /proc: total, anonymous (private heap), file-backed, peak."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in fields:
            out[fields[key]] = round(int(value.split()[0]) / 1024, 1)
    return out


class PeakAnon:
    """Samples this process's anonymous (private) memory in a thread; ``peak`` in MB.

    VmHWM also counts the file pages of memmapped vectors being read, which the kernel can drop at
    any time; the private peak is what competes with other jobs for RAM.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_mem_mb()["anon"])
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakAnon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_mem_mb()["anon"])


def isolated(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh process (spawned: its peak memory is its own) and return its result."""
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:10]


def parse_scale(text: str) -> int | None:
    """``real`` -> None, ``1M`` -> 1_000_000, ``250k`` -> 250_000."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if text == "real":
        return None
    if not m:
        raise SystemExit(f"scales: {text!r} is not 'real' or a count like 1M / 250k")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()])


# --- vectors --------------------------------------------------------------------------------------


def synthetic_vectors(real_path: Path, n: int, out: Path, clusters: int = 1024, seed: int = 0,
                      iso: float = 0.1, unit: bool = False, chunk: int = 200_000) -> None:
    """Write ``n`` rows to ``out``: the real vectors, then Gaussian-mixture samples fitted to them (resumable).

    ``unit``: scale the samples to unit length, like the real ones of a cosine space.
    """
    import faiss

    real = np.asarray(np.load(real_path, mmap_mode="r"), dtype=np.float32)
    n_real, dim = real.shape
    if n <= n_real:
        raise SystemExit(f"synthetic scale {n} must exceed the {n_real} real vectors")
    km = faiss.Kmeans(dim, clusters, niter=20, seed=seed)
    km.train(real)
    _, assign = km.index.search(real, 1)
    assign = assign[:, 0]
    centres = km.centroids
    residuals = [real[assign == c] - centres[c] for c in range(clusters)]
    weights = np.bincount(assign, minlength=clusters) / n_real
    # a little isotropic noise so that clusters are not confined to the span of their few members
    sigma = float(np.sqrt(iso * np.mean(np.square(real - centres[assign]))))
    partial, progress = out.with_name(out.name + ".partial"), out.with_name(out.name + ".progress")
    done = int(progress.read_text()) if partial.exists() and progress.exists() else 0
    mm = np.lib.format.open_memmap(partial, mode="r+" if done else "w+", dtype=np.float16, shape=(n, dim))
    if not done:
        mm[:n_real] = real
    starts = list(range(n_real, n, chunk))
    for i, s in enumerate(starts):
        if i < done:
            continue
        m = min(chunk, n - s)
        rng = np.random.default_rng([seed, i])
        ks = np.sort(rng.choice(clusters, size=m, p=weights))
        block = np.empty((m, dim), dtype=np.float32)
        bounds = np.searchsorted(ks, np.arange(clusters + 1))
        for c in np.unique(ks):
            a, b = bounds[c], bounds[c + 1]
            res = residuals[c]
            # centre + a Gaussian with the cluster's empirical covariance (random mix of its residuals)
            block[a:b] = centres[c] + rng.standard_normal((b - a, len(res)), dtype=np.float32) @ res / np.sqrt(len(res))
        block += sigma * rng.standard_normal(block.shape, dtype=np.float32)
        if unit:
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        mm[s : s + m] = block[rng.permutation(m)]  # clusters interleaved, as in a real dump order
        mm.flush()
        progress.write_text(str(i + 1))
        if i % 10 == 0:
            log(f"synthetic {out.name}: {s + m:,} / {n:,} rows")
    del mm
    os.replace(partial, out)
    progress.unlink(missing_ok=True)


def norm_percentiles(path: Path, sample: int = 100_000) -> list[float]:
    vec = np.load(path, mmap_mode="r")
    rows = np.sort(np.random.default_rng(0).choice(len(vec), size=min(sample, len(vec)), replace=False))
    return [round(float(v), 2) for v in np.percentile(np.linalg.norm(np.asarray(vec[rows], np.float32), axis=1),
                                                      [5, 50, 95])]


# --- queries and exact search ---------------------------------------------------------------------


def make_queries(kb_dir: str, n_names: int, mention_docs: int, out: str) -> dict[str, int]:
    """Query vectors of both spaces for ``n_names`` random KB entity labels and the mentions detected in dev texts.

    ``span_*``: label-tower P vectors of the labels and span vectors of the mentions (what
    ``DenseRetriever`` sends); ``name_*``: unit sentence embeddings of the label and mention
    strings (what ``NameRetriever`` sends).
    """
    from bench_link import DEV

    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.kb.store import LmdbEntityStore
    from glinker.retrieval.candidates import NameEncoder
    from glinker.settings import data_dir

    det = BiEncoderDetector()
    store = LmdbEntityStore(Path(kb_dir) / "entities.lmdb")
    rows = np.sort(np.random.default_rng(0).choice(len(store), size=min(n_names, len(store)), replace=False))
    qids = store.qids_for_rows(rows.tolist())
    records = store.get_many(q for q in qids if q is not None)
    labels = [records[q].label for q in qids if q in records]
    span_names = det.encode_texts(labels).astype(np.float32)
    texts = []
    for name in DEV:
        path = data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl"
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not texts:
        log(f"no ELEVANT texts under {data_dir()}: the 'mentions' query set is skipped")
    found = [m for doc in det.detect(texts[:mention_docs]) for m in doc if m.vector is not None]
    dim = span_names.shape[1]
    span_mentions = np.stack([m.vector for m in found]).astype(np.float32) if found else np.zeros((0, dim), np.float32)
    encoder = NameEncoder(det)
    name_mentions = encoder.encode([m.text for m in found]) if found else np.zeros((0, dim), np.float32)
    arrays = {"span_names": span_names, "span_mentions": span_mentions, "name_names": encoder.encode(labels),
              "name_mentions": name_mentions}
    np.savez(out, **arrays)
    return {k: len(v) for k, v in arrays.items()}


def query_sets(queries_path: str | Path, space: str) -> dict[str, np.ndarray]:
    """The non-empty query sets of one space: {"names": ..., "mentions": ...}."""
    q = np.load(queries_path)
    return {name: q[f"{space}_{name}"] for name in ("names", "mentions") if len(q[f"{space}_{name}"])}


def exact_search(vec_path: Path, queries: np.ndarray, k: int = K, chunk: int = 250_000,
                 qblock: int = 512) -> tuple[np.ndarray, ...]:
    """Exact top-``k`` inner products over an fp16 matrix, one fp32 chunk at a time: (rows, scores, seconds).

    Plain BLAS matrix products + partial sort: faster than ``faiss.knn`` here, so the exact baseline is not
    handicapped.
    """
    vec = np.load(vec_path, mmap_mode="r")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    start = time.perf_counter()
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_r = np.full((len(queries), k), -1, dtype=np.int64)
    for s in range(0, len(vec), chunk):
        block = np.ascontiguousarray(vec[s : s + chunk], dtype=np.float32)
        kk = min(k, len(block))
        for a in range(0, len(queries), qblock):
            scores = queries[a : a + qblock] @ block.T
            part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            cat_s = np.hstack([best_s[a : a + qblock], np.take_along_axis(scores, part, 1)])
            cat_r = np.hstack([best_r[a : a + qblock], part + s])
            top = np.argsort(-cat_s, axis=1, kind="stable")[:, :k]
            best_s[a : a + qblock] = np.take_along_axis(cat_s, top, 1)
            best_r[a : a + qblock] = np.take_along_axis(cat_r, top, 1)
    return best_r, best_s, np.float64(time.perf_counter() - start)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth)]))


# --- build and measure (child processes) ----------------------------------------------------------


def build_child(vec_path: str, spec: str, out: str, threads: int) -> dict[str, Any]:
    import faiss

    from glinker.kb.index import build_index

    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    factory = spec.removesuffix(RAW)
    with PeakAnon() as anon:
        facts = build_index(np.load(vec_path, mmap_mode="r"), factory, out,
                            mips=False if spec.endswith(RAW) else None)
    facts.update(factory=factory, seconds=time.perf_counter() - start, peak_rss_mb=proc_mem_mb()["peak"],
                 peak_anon_mb=anon.peak,
                 file_bytes=Path(out).stat().st_size, date=f"{datetime.now(timezone.utc):%Y-%m-%d}")
    return facts


def measure_child(index_path: str, vec_path: str, queries_path: str, space: str, gt_path: str,
                  sweeps: list[dict[str, int]], threads: int) -> dict[str, Any]:
    """Open mmapped, run every sweep point over all queries; memory before/after."""
    import faiss

    from glinker.kb.index import FaissEntityIndex

    faiss.omp_set_num_threads(threads)
    sets = query_sets(queries_path, space)
    allq = np.vstack(list(sets.values()))
    truth = np.load(gt_path)["rows"]
    base = proc_mem_mb()
    rescore = np.load(vec_path, mmap_mode="r") if any(p.get("rescore_k") for p in sweeps) else None
    index = FaissEntityIndex(index_path, mmap=True, rescore_vectors=rescore, rescore_k=0)
    opened = proc_mem_mb()
    points = []
    for params in sweeps:
        index.set_search_params(**params)
        index.search(allq[:64], K)  # warm-up
        reps, elapsed = 0, 0.0
        while reps < 3 or elapsed < 1.0:  # at least 3 passes and 1 s, so that a stray time slice averages out
            start = time.perf_counter()
            rows, _ = index.search(allq, K)
            elapsed += time.perf_counter() - start
            reps += 1
        recall, s = {}, 0
        for name, block in sets.items():
            recall[name] = round(recall_at_k(rows[s : s + len(block)], truth[s : s + len(block)]), 4)
            s += len(block)
        points.append({"params": params, "recall": recall, "qps": round(reps * len(allq) / elapsed, 1)})
    return {"points": points, "mem_base": base, "mem_open_mmap": opened, "mem_after_mmap": proc_mem_mb()}


def full_load_child(index_path: str, queries_path: str, space: str, threads: int) -> dict[str, Any]:
    import faiss

    from glinker.kb.index import FaissEntityIndex

    faiss.omp_set_num_threads(threads)
    base = proc_mem_mb()
    index = FaissEntityIndex(index_path, mmap=False)
    opened = proc_mem_mb()
    index.search(query_sets(queries_path, space)["names"][:256], K)
    return {"mem_base": base, "mem_open_full": opened, "mem_after_full": proc_mem_mb()}


def exact_child(vec_path: str, queries_path: str, space: str, n: int, threads: int) -> dict[str, float]:
    import faiss

    faiss.omp_set_num_threads(threads)
    allq = np.vstack(list(query_sets(queries_path, space).values()))[:n]
    _, _, seconds = exact_search(Path(vec_path), allq)
    return {"queries": len(allq), "seconds": float(seconds), "qps": round(len(allq) / float(seconds), 2)}


def gt_child(vec_path: str, queries_path: str, space: str, out: str, threads: int) -> None:
    import faiss

    faiss.omp_set_num_threads(threads)
    rows, scores, seconds = exact_search(Path(vec_path), np.vstack(list(query_sets(queries_path, space).values())))
    tmp = out + ".partial.npz"
    np.savez(tmp, rows=rows, scores=scores, seconds=seconds)
    os.replace(tmp, out)


# --- orchestration and report ---------------------------------------------------------------------


def slug(factory: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", factory)


def best_point(points: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """Fastest sweep point reaching the recall goal on every query set, else the most accurate one."""
    ok = [p for p in points if min(p["recall"].values()) >= GOAL_RECALL]
    if ok:
        return max(ok, key=lambda p: p["qps"]), True
    return max(points, key=lambda p: (min(p["recall"].values()), p["qps"])), False


def fmt_params(params: dict[str, int]) -> str:
    names = {"ef_search": "efSearch", "nprobe": "nprobe", "rescore_k": "rescore"}
    shown = {k: v for k, v in params.items() if not (k == "rescore_k" and not v)}
    if "nprobe" in shown:
        shown.pop("ef_search", None)  # the quantizer depth follows nprobe
    return ", ".join(f"{names[k]}={v}" for k, v in shown.items()) or "exact"


def real_vectors(kb_dir: Path, space: str, cache: Path) -> tuple[Path, str]:
    """The KB's vectors of a space and their cache key; the name space's are stored unit-length, as indexed."""
    src = kb_dir / ("embeddings.f16.npy" if space == "span" else "sentence.f16.npy")
    if not src.is_file():
        raise SystemExit(f"{src} not found: build the KB first (README §2) or pass kb_dir=")
    key = f"{space}-{file_digest(src)}"
    if space == "span":
        return src, key
    out = cache / "vectors" / f"{key}-real.npy"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        from glinker.kb import normalized_rows

        np.save(out, normalized_rows(np.load(src, mmap_mode="r")).astype(np.float16))
    return out, key


def run_scale(scale: str, space: str, opts: dict[str, Any], qpath: Path, qkey: str,
              overrides: list[tuple[str, list[dict[str, int]]]] | None) -> dict[str, Any] | None:
    cache, threads = opts["cache_dir"], opts["threads"]
    real_path, real_key = real_vectors(opts["kb_dir"], space, cache)
    n = parse_scale(scale)
    if n is None:
        vec_path, vkey = real_path, f"{real_key}-real"
    else:
        vkey = f"{real_key}-synth{n}-c1024-s0"
        vec_path = cache / "vectors" / f"{vkey}.npy"
        if not vec_path.exists():
            vec_path.parent.mkdir(parents=True, exist_ok=True)
            log(f"generating {n:,} vectors -> {vec_path}")
            synthetic_vectors(real_path, n, vec_path, unit=space == "name")
    ntotal = len(np.load(vec_path, mmap_mode="r"))
    gt_path = cache / "gt" / f"{vkey}-{qkey}.npz"
    if not gt_path.exists():
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        log(f"{scale}: exact top-{K} for all queries over {ntotal:,} vectors")
        isolated(gt_child, str(vec_path), str(qpath), space, str(gt_path), threads)
    builds = {}
    for factory, _ in overrides or configs_for(ntotal, space):
        path = cache / "indexes" / vkey / f"{slug(factory)}.faiss"
        meta = path.with_suffix(".json")
        if not meta.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            log(f"{scale}: building {factory}")
            facts = isolated(build_child, str(vec_path), factory, str(path), threads)
            meta.write_text(json.dumps(facts, indent=1))
            log(f"{scale}: built {factory} in {facts['seconds']:.0f} s, peak RSS {facts['peak_rss_mb']:.0f} MB")
        builds[factory] = (path, json.loads(meta.read_text()))
    if opts["build_only"]:
        return None
    log(f"{scale}: timing exact search on {opts['exact_queries']} queries")
    exact = isolated(exact_child, str(vec_path), str(qpath), space, opts["exact_queries"], threads)
    truth = np.load(gt_path)["rows"]
    sizes = {name: len(v) for name, v in query_sets(qpath, space).items()}
    distinct, s = {}, 0
    for name, size in sizes.items():  # how many entities the exact top-10 lists cover: hubness of the space
        distinct[name] = int(len(np.unique(truth[s : s + size])))
        s += size
    indexes = []
    for factory, sweeps in overrides or configs_for(ntotal, space):
        path, facts = builds[factory]
        log(f"{scale}: searching {factory} ({len(sweeps)} settings)")
        m = isolated(measure_child, str(path), str(vec_path), str(qpath), space, str(gt_path), sweeps, threads)
        full = isolated(full_load_child, str(path), str(qpath), space, threads)
        for p in m["points"]:
            p["speedup"] = round(p["qps"] / exact["qps"], 1)
        indexes.append({"factory": factory, "build": facts, **m, **full})
    return {"space": space, "scale": scale, "n": ntotal, "vectors": str(vec_path),
            "norm_p5_p50_p95": norm_percentiles(vec_path), "queries": sizes, "distinct_exact_top10": distinct,
            "exact": exact, "indexes": indexes}


def report(results: list[dict[str, Any]], argv: list[str]) -> None:
    sets = list(results[0]["queries"]) if results else []
    from common import stamp  # benchmarks/common.py

    print(f"Command: `python benchmarks/bench_faiss.py {' '.join(argv)}` ({stamp()})\n")
    for r in results:
        print(f"**{r['space']} {r['scale']}**: {r['n']:,} entities, vector norms p5/p50/p95 "
              f"{r['norm_p5_p50_p95']}; queries "
              + ", ".join(f"{k} {v} (exact top-{K} lists cover {r['distinct_exact_top10'][k]:,} distinct entities)"
                          for k, v in r["queries"].items())
              + f"; exact brute force {r['exact']['qps']} queries/s\n")
    head = " | ".join(f"recall@{K} {s}" for s in sets)
    print(f"| space, scale | index | search | {head} | QPS | × exact | bytes/entity | build s (train + add) | "
          "build peak GB: private / RSS | serve MB: mmap private / file-backed, full-load private | goals |")
    print("|" + "---|" * (10 + len(sets)))
    for r in results:
        for ix in r["indexes"]:
            p, ok = best_point(ix["points"])
            b = ix["build"]
            mmap_anon = ix["mem_after_mmap"]["anon"] - ix["mem_base"]["anon"]
            full_anon = ix["mem_after_full"]["anon"] - ix["mem_base"]["anon"]
            extra = " + 768 fp16" if p["params"].get("rescore_k") else ""
            goals = "yes" if ok and p["speedup"] >= GOAL_SPEEDUP else ("recall" if ok else "no")
            print(f"| {r['space']} {r['scale']} | {ix['factory']} | {fmt_params(p['params'])} | "
                  + " | ".join(f"{p['recall'].get(s, float('nan')):.3f}" for s in sets)
                  + f" | {p['qps']:,.0f} | {p['speedup']} | {b['file_bytes'] / r['n']:.0f}{extra} | "
                  f"{b['train_seconds']:.0f} + {b['add_seconds']:.0f} | "
                  f"{b.get('peak_anon_mb', float('nan')) / 1024:.2f} / {b['peak_rss_mb'] / 1024:.2f} | "
                  f"{mmap_anon:.0f} / {ix['mem_after_mmap']['file']:.0f}, {full_anon:.0f} | {goals} |")
    print(f"\nEvery setting measured:\n\n| space, scale | index | search | {head} | QPS | × exact |")
    print("|" + "---|" * (5 + len(sets)))
    for r in results:
        for ix in r["indexes"]:
            for p in ix["points"]:
                print(f"| {r['space']} {r['scale']} | {ix['factory']} | {fmt_params(p['params'])} | "
                      + " | ".join(f"{p['recall'].get(s, float('nan')):.3f}" for s in sets)
                      + f" | {p['qps']:,.0f} | {p['speedup']} |")
    print(json.dumps({"results": results}))


def parse_opts(argv: list[str]) -> tuple[dict[str, Any], list[tuple[str, list[dict[str, int]]]] | None]:
    defaults = {"scales": "[real,1M,10M]", "spaces": "[span,name]", "kb_dir": "kb/arnold",
                "cache_dir": "~/.cache/glinker/bench/faiss",
                "names": "2000", "mention_docs": "80", "exact_queries": "1000", "threads": "2",
                "build_only": "false", "indexes": ""}
    from common import key_value_options  # benchmarks/common.py

    opts = key_value_options(argv, defaults)
    parsed: dict[str, Any] = {
        "scales": [s.strip() for s in opts["scales"].strip("[]").split(",") if s.strip()],
        "spaces": [s.strip() for s in opts["spaces"].strip("[]").split(",") if s.strip()],
        "kb_dir": Path(opts["kb_dir"]), "cache_dir": Path(opts["cache_dir"]).expanduser(),
        "names": int(opts["names"]), "mention_docs": int(opts["mention_docs"]),
        "exact_queries": int(opts["exact_queries"]), "threads": int(opts["threads"]),
        "build_only": opts["build_only"].lower() in ("1", "true", "yes"),
    }
    overrides = [(f.strip(), sweep_for(f.strip())) for f in opts["indexes"].split(";") if f.strip()] or None
    return parsed, overrides


def main(argv: list[str]) -> None:
    opts, overrides = parse_opts(argv)
    manifest = opts["kb_dir"] / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest} not found: build the KB first (README §2) or pass kb_dir=")
    cache = opts["cache_dir"]
    cache.mkdir(parents=True, exist_ok=True)
    kb_key = file_digest(opts["kb_dir"] / "embeddings.f16.npy")
    fingerprint = json.loads(manifest.read_text())["model"]["fingerprint"]
    qkey = f"q2-{fingerprint}-{kb_key}-n{opts['names']}-d{opts['mention_docs']}"
    qpath = cache / f"{qkey}.npz"
    if not qpath.exists():
        log(f"computing queries -> {qpath}")
        tmp = cache / f"{qkey}.partial.npz"
        log(f"queries: {isolated(make_queries, str(opts['kb_dir']), opts['names'], opts['mention_docs'], str(tmp))}")
        os.replace(tmp, qpath)
    results = []
    for space in opts["spaces"]:
        for scale in opts["scales"]:
            r = run_scale(scale, space, opts, qpath, qkey, overrides)
            if r is not None:
                results.append(r)
    if results:
        report(results, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
