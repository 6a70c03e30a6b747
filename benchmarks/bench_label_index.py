"""Label index choice: top-1 recall against exact search, µs per span query and memory, per index and setting.

    python benchmarks/bench_label_index.py [labels=100000,1000000] [sentences=64] [max_spans=] [configs=...]
        [cache_dir=runs/bench_labels] [query_batch=175] [out=]

Queries are the span vectors of every candidate span the detector scores in the first ``sentences`` CoNLL-2003
test sentences (the spans a label index is asked about in ``detect``); label vectors are the label sets that
``benchmarks/bench_labels.py`` cached in ``cache_dir`` (run it first, ``prepare_only=true`` is enough). Exact
answers (each span's best and second-best label over every label) are computed once by blocked matrix products
and cached next to the label vectors. Searches run in batches of ``query_batch`` spans (175: about one CoNLL
sentence, detection at batch 1) on one FAISS thread. Per configuration: recall@1 over all spans and over the
spans whose exact best logit passes the detection threshold (0.5), the spans whose keep/drop decision or kept
label differs from exact search, and the pruning bound's effect (spans no label can lift over the threshold
are not searched; see :meth:`glinker.detection.label_index.LabelIndex.best`).

``configs``: ``;``-separated ``kind:key=value,...`` items: :meth:`LabelIndex.build` arguments and the search
settings ``ef_search`` / ``first_ef`` / ``nprobe`` (default: a grid of HNSW and IVF settings, fp32 and fp16
storage). Built indexes are cached under ``cache_dir``.
Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_labels import _read_labels, sentences  # noqa: E402  (benchmarks/bench_labels.py)
from common import key_value_options, stamp  # noqa: E402

DEFAULT_CONFIGS = ";".join((
    "hnsw:ef_search=64,first_ef=64", "hnsw:ef_search=16,first_ef=16", "hnsw:ef_search=64,first_ef=16",
    "hnsw:ef_search=128,first_ef=16", "hnsw:ef_search=128,first_ef=8",
    "ivf:nprobe=0", "ivf:nprobe=4", "ivf:nlist=1024,nprobe=0", "ivf:nlist=8192,nprobe=0", "ivf:fp16=1,nprobe=0",
))


def span_queries(n_sentences: int) -> np.ndarray:
    """Span vectors of every candidate span of the first ``n_sentences`` test sentences, in detection order."""
    from glinker.detection.bi_encoder import BiEncoderDetector

    det = BiEncoderDetector(label_index_min_labels=1, label_index="flat", batch_size=1)
    seen: list[np.ndarray] = []
    inner = det._best_labels

    def capture(spans, lset, cut=None):
        seen.append(spans.float().numpy().copy())
        return inner(spans, lset, cut)

    det._best_labels = capture
    for text in sentences(n_sentences):
        det.detect([text], ("person", "location"))
    return np.concatenate(seen)


def exact_top2(queries: np.ndarray, vectors: np.ndarray, block: int = 20_000) -> tuple[np.ndarray, ...]:
    """Each query's best logit, best label and second-best logit over every row of ``vectors``."""
    n = len(queries)
    best = np.full(n, -np.inf, np.float32)
    second = np.full(n, -np.inf, np.float32)
    arg = np.zeros(n, np.int64)
    for s in range(0, len(vectors), block):
        scores = queries @ np.asarray(vectors[s : s + block], dtype=np.float32).T
        top2 = np.argpartition(-scores, 1, axis=1)[:, :2] if scores.shape[1] > 1 else np.zeros((n, 1), np.int64)
        for j in range(top2.shape[1]):
            val = scores[np.arange(n), top2[:, j]]
            better = val > best
            second = np.where(better, best, np.maximum(second, val))
            arg = np.where(better, top2[:, j] + s, arg)
            best = np.where(better, val, best)
    return best, arg, second


def parse_config(item: str) -> tuple[str, dict]:
    kind, _, rest = item.partition(":")
    params = {}
    for kv in filter(None, rest.split(",")):
        k, v = kv.split("=")
        params[k] = int(v)
    return kind, params


def main(argv: list[str]) -> None:
    import faiss

    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.detection.label_index import LabelIndex

    opts = key_value_options(argv, {"labels": "100000,1000000", "sentences": "64", "configs": DEFAULT_CONFIGS,
                                    "cache_dir": str(ROOT / "runs" / "bench_labels"), "query_batch": "175",
                                    "threads": "1", "max_spans": "", "out": ""})
    faiss.omp_set_num_threads(int(opts["threads"]))
    cache = Path(opts["cache_dir"])
    qpath = cache / f"span_queries-{opts['sentences']}.npy"
    if not qpath.exists():
        np.save(qpath, span_queries(int(opts["sentences"])))
    queries = np.load(qpath)
    if opts["max_spans"]:  # the first spans only (exact search over 10^6 labels costs minutes per 10^4 spans)
        queries = queries[: int(opts["max_spans"])]
    det = BiEncoderDetector.__new__(BiEncoderDetector)  # only for its cache paths
    det.label_cache_dir = cache
    det.bundle = BiEncoderDetector(label_index_min_labels=10**12).bundle
    qb = int(opts["query_batch"])
    rows = []
    for n in [int(x) for x in opts["labels"].split(",")]:
        names = _read_labels(cache, n)
        vec_path = det._cache_path(names, ".npy")
        vectors = np.load(vec_path, mmap_mode="r")
        epath = det._cache_path(names, f".exact-{opts['sentences']}-{len(queries)}.npz")
        if not epath.exists():
            t0 = time.perf_counter()
            best, arg, second = exact_top2(queries, vectors)
            np.savez(epath, best=best, arg=arg, second=second, seconds=time.perf_counter() - t0)
        ex = np.load(epath)
        best, arg, second = ex["best"], ex["arg"], ex["second"]
        kept = best > 0
        print(f"[bench_label_index] {n:,} labels: {len(queries):,} spans, {int(kept.sum())} above threshold, "
              f"exact search {float(ex['seconds']):.1f} s", file=sys.stderr, flush=True)
        for item in opts["configs"].split(";"):
            kind, params = parse_config(item)
            search = {k: params.pop(k) for k in ("ef_search", "first_ef", "nprobe") if k in params}
            tag = "bench-" + kind + "".join(f"-{k}{v}" for k, v in sorted(params.items()))
            # default build settings: the detector's own cached index (bench_labels.py prepare_only=true)
            ipath = det._cache_path(names, f".{tag if params else kind}.faiss")
            build_path = Path(f"{ipath}.build_s")
            timing_path = det._cache_path(names, ".timing.json")
            if not params and not build_path.exists() and ipath.exists() and timing_path.exists():
                build_path.write_text(str(json.loads(timing_path.read_text()).get(f"{kind}_build_s")))
            if ipath.exists() and build_path.exists():
                index, build_s = LabelIndex.load(ipath), float(build_path.read_text())
            else:
                t0 = time.perf_counter()
                index = LabelIndex.build(vectors, kind, **params)
                build_s = round(time.perf_counter() - t0, 1)
                index.save(ipath)
                build_path.write_text(str(build_s))
            for key, value in search.items():
                setattr(index, key, value)
            for prune in (False, True) if index.kind == "ivf" else (False,):
                index.prune = prune
                got_s = np.empty(len(queries), np.float32)
                got_a = np.empty(len(queries), np.int64)
                t0 = time.perf_counter()
                for s in range(0, len(queries), qb):
                    got_s[s : s + qb], got_a[s : s + qb] = index.best(queries[s : s + qb], cut=0.0)
                took = time.perf_counter() - t0
                hit = (got_a == arg) | (got_s >= best - 1e-4)
                decided = (got_s > 0) == kept
                same = decided & (~kept | hit)
                rows.append({"labels": n, "index": kind, "build": params, "search": search, "prune": prune,
                             # the IVF index answers only the spans above the cut
                             "recall_all": None if kind == "ivf" else round(float(hit.mean()), 5),
                             "recall_kept": round(float(hit[kept].mean()), 4),
                             "same_decision": round(float(same.mean()), 5),
                             "differ_kept": int((~same & kept).sum()), "differ_dropped": int((~same & ~kept).sum()),
                             "us_per_span": round(1e6 * took / len(queries), 1),
                             "file_mb": round(ipath.stat().st_size / 2**20), "build_s": build_s})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    lines = [f"Command: `python benchmarks/bench_label_index.py {' '.join(argv)}` ({stamp()}, FAISS threads "
             f"{opts['threads']}, {len(queries):,} span queries in batches of {qb})", "",
             "| labels | index | build | search | pruned | recall@1 all spans | recall@1 spans above threshold | "
             "spans decided differently (kept / dropped) | µs per span | file MB | build s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['labels']:,} | {r['index']} | {r['build'] or ''} | {r['search']} | "
                     f"{'yes' if r['prune'] else 'no'} | {r['recall_all']} | {r['recall_kept']} | "
                     f"{r['differ_kept']} / {r['differ_dropped']} | {r['us_per_span']} | {r['file_mb']} | "
                     f"{r['build_s']} |")
    print("\n".join(lines))
    if opts["out"]:
        Path(opts["out"]).write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
