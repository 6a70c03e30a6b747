"""Entity-text embedding throughput: kb_build's label-tower path against a plain padded loop, side by side.

    python benchmarks/bench_embed.py [n=10000] [batch_size=64] [threads=[2]] [repeats=1] [mention_docs=30]
        [model=PATH] [dump=wikidata/arnold/arnold-dump.json.gz]

Texts: the first ``n`` entities ``kb_build`` keeps from the dump (relative paths resolve under
``GLINKER_DATA_DIR``), rendered with its default template ``"{label}: {description}"``. Every system
produces the same two outputs kb_build stores: P = ``prompt_rep_layer(E)`` rows (``embeddings.f16.npy``)
and E, the mean-pooled label-tower sentence embeddings (``sentence_embeddings``). Systems:

* ``plain padded loop``: batches of ``batch_size`` texts in dump order, each padded to its longest
  member by the tokenizer, the Hugging Face encoder under ``torch.no_grad``, mean pooling and
  ``prompt_rep_layer``. Its fp32 outputs are the reference ("exact").
* ``previous kb_build``: the path kb_build used before (texts sorted by character count, padded per batch).
* ``glinker fp32``: ``BiEncoderDetector.encode_texts_pooled``, the function kb_build calls.
* ``glinker int8``: the same with ``precision="int8"`` (kb_build ``embed_precision=int8``; lossy).

For each system: texts/s (best of ``repeats`` after a warm-up, at each torch thread count in
``threads``), padded tokens computed, cosine of P and E to the exact outputs (an exact system must
reach 0.999 or the script exits with status 1), and, as the accuracy check a lossy option needs,
FAISS neighbour agreement with the exact vectors (vectors rounded to fp16 as in a KB): the top-1
entity and top-10 overlap for the span vectors of the mentions the detector finds in the first
``mention_docs`` ELEVANT aida-conll-dev texts (dense retrieval's queries), and for the E vectors of
those mentions' surface strings against the E rows by cosine (the name index's queries).
Prints a Markdown table to stderr and a JSON line last on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

from glinker.settings import data_dir  # noqa: E402

GOAL_SPEEDUP, MIN_COSINE = 2.0, 0.999
Outputs = tuple[np.ndarray, np.ndarray]


def load_texts(dump: Path, n: int) -> list[str]:
    """The first ``n`` entity texts kb_build would embed from ``dump``."""
    from kb_build.build import DEFAULT_TEMPLATE, entity_text
    from kb_build.extract import Extractor, iter_extracted

    texts: list[str] = []
    for result in iter_extracted(dump, Extractor(languages=("en",)), workers=1, threads=1):
        texts += [entity_text(r, DEFAULT_TEMPLATE) for r in result.records]
        if len(texts) >= n:
            break
    if len(texts) < n:
        print(f"note: the dump holds only {len(texts)} kept entities", file=sys.stderr)
    return texts[:n]


def plain_loop(det, texts: list[str], batch_size: int) -> Outputs:
    """What a user would write with transformers: dump order, pad each batch, encode, pool, project."""
    towers = det.model.token_rep_layer
    encoder = towers.labels_encoder.model  # the Hugging Face BertModel
    tok = det.bundle.labels_tokenizer
    p_rows, e_rows = [], []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tok(texts[s : s + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = encoder(**enc).last_hidden_state
            if hasattr(towers, "labels_projection"):
                states = towers.labels_projection(states)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            emb = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            p_rows.append(det.model.prompt_rep_layer(emb).numpy())
            e_rows.append(emb.numpy())
    return np.concatenate(p_rows), np.concatenate(e_rows)


def char_sorted(det, texts: list[str], batch_size: int) -> Outputs:
    """kb_build's path before this benchmark: batches of texts sorted by character count."""
    tok = det.bundle.labels_tokenizer
    p_out = np.zeros((len(texts), det.dim), np.float32)
    e_out = np.zeros((len(texts), det.dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")
            emb = det.model.label_embeddings(enc["input_ids"], enc["attention_mask"])
            p_out[idx] = det.model.label_reps(emb).numpy()
            e_out[idx] = emb.numpy()
    return p_out, e_out


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def neighbours(rows: np.ndarray, queries: np.ndarray, k: int, normalise: bool) -> np.ndarray:
    """Exact inner-product top-k of ``queries`` over ``rows`` rounded to fp16 (as stored in a KB)."""
    rows = rows.astype(np.float16).astype(np.float32)
    if normalise:
        rows = rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-12)
    index = faiss.IndexFlatIP(rows.shape[1])
    index.add(rows)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)[1]


def agreement(exact: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Share of queries with the same top-1, and mean top-10 overlap, in percent."""
    top1 = float(np.mean(exact[:, 0] == other[:, 0])) * 100
    overlap = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, other)])) * 100
    return round(top1, 2), round(overlap, 2)


def mention_queries(det, docs: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Span vectors of detected mentions in ELEVANT texts, and E of their surface strings (normalised)."""
    path = data_dir() / "el" / "elevant" / "aida-conll-dev.benchmark.jsonl"
    if docs <= 0 or not path.is_file():
        print(f"note: no neighbour agreement ({path} absent or mention_docs=0)", file=sys.stderr)
        return None
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()][:docs]
    mentions = [m for ms in det.detect([json.loads(ln)["text"] for ln in lines]) for m in ms]
    spans = np.stack([m.vector for m in mentions])
    _, names = det.encode_texts_pooled([m.text for m in mentions])
    return spans, names / (np.linalg.norm(names, axis=1, keepdims=True) + 1e-12)


def timed(fn: Callable[[], Outputs], repeats: int) -> tuple[Outputs, float]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main(argv: list[str]) -> int:
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.model.label_tower import length_batches

    opts = key_value_options(argv, {"n": "10000", "batch_size": "64", "threads": "[2]", "repeats": "1",
                                    "mention_docs": "30", "model": "", "dump": "wikidata/arnold/arnold-dump.json.gz"})
    n, bs = int(opts["n"]), int(opts["batch_size"])
    thread_counts = [int(x) for x in opts["threads"].strip("[]").split(",")]
    repeats, docs = int(opts["repeats"]), int(opts["mention_docs"])
    dump = Path(opts["dump"])
    dump = dump if dump.is_absolute() or dump.exists() else data_dir() / dump
    if not dump.is_file():
        raise SystemExit(f"dump not found: {dump} (set GLINKER_DATA_DIR or pass dump=PATH)")

    det = BiEncoderDetector(opts["model"] or None)
    texts = load_texts(dump, n)
    lengths = [len(x) for x in det.bundle.labels_tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    in_order = [list(range(s, min(s + bs, len(texts)))) for s in range(0, len(texts), bs)]
    by_chars = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    systems: list[tuple[str, Callable[[list[str]], Outputs], int]] = [
        ("plain padded loop", lambda t: plain_loop(det, t, bs), padded_tokens(lengths, in_order)),
        ("previous kb_build (char-sorted)", lambda t: char_sorted(det, t, bs),
         padded_tokens(lengths, [by_chars[s : s + bs] for s in range(0, len(texts), bs)])),
        ("glinker fp32", lambda t: det.encode_texts_pooled(t, batch_size=bs),
         padded_tokens(lengths, length_batches(lengths, bs))),
        ("glinker int8 (lossy)", lambda t: det.encode_texts_pooled(t, batch_size=bs, precision="int8"),
         padded_tokens(lengths, length_batches(lengths, bs))),
    ]
    queries = mention_queries(det, docs)

    rows, exact = [], None
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for name, fn, padded in systems:
            fn(texts[:256])  # warm-up (and, for int8, the one-time quantisation)
            (p, e), seconds = timed(lambda fn=fn: fn(texts), repeats)
            if exact is None:
                exact = (p, e)
            cp, ce = cosines(exact[0], p), cosines(exact[1], e)
            row = {"system": name, "threads": threads, "texts": len(texts), "seconds": round(seconds, 2),
                   "texts_per_s": round(len(texts) / seconds, 1), "padded_tokens": padded,
                   "p_cos_min": round(float(cp.min()), 6), "p_cos_mean": round(float(cp.mean()), 6),
                   "e_cos_min": round(float(ce.min()), 6), "e_cos_mean": round(float(ce.mean()), 6)}
            if queries is not None:
                row["span_top1"], row["span_top10"] = agreement(neighbours(exact[0], queries[0], 10, False),
                                                                neighbours(p, queries[0], 10, False))
                row["name_top1"], row["name_top10"] = agreement(neighbours(exact[1], queries[1], 10, True),
                                                                neighbours(e, queries[1], 10, True))
            rows.append(row)
            print(f"  {name} threads={threads}: {row['texts_per_s']} texts/s", file=sys.stderr, flush=True)
    for row in rows:
        base = next(r for r in rows if r["threads"] == row["threads"])
        row["speedup"] = round(row["texts_per_s"] / base["texts_per_s"], 2)

    exact_ok = all(min(r["p_cos_min"], r["e_cos_min"]) >= MIN_COSINE for r in rows if "lossy" not in r["system"])
    ours = [r for r in rows if r["system"] == "glinker fp32"]
    goal_met = exact_ok and all(r["speedup"] >= GOAL_SPEEDUP for r in ours)
    mean_tok = sum(lengths) / len(lengths)
    print(f"\nCommand: `python benchmarks/bench_embed.py {' '.join(argv)}` ({stamp()}); {len(texts)} texts from "
          f"{dump.name}, {mean_tok:.1f} tokens each on average (max {max(lengths)}), batch size {bs}"
          + (f"; {len(queries[0])} mention queries from {docs} aida-conll-dev texts" if queries is not None else ""),
          file=sys.stderr)
    head = "| system | threads | texts/s | × plain | padded tokens | P cos min / mean | E cos min / mean |"
    sep = "|---|---|---|---|---|---|---|"
    if queries is not None:
        head += " span top-1 / top-10 agree % | name top-1 / top-10 agree % |"
        sep += "---|---|"
    print(head + "\n" + sep, file=sys.stderr)
    for r in rows:
        line = (f"| {r['system']} | {r['threads']} | {r['texts_per_s']} | {r['speedup']} | {r['padded_tokens']:,} | "
                f"{r['p_cos_min']:.5f} / {r['p_cos_mean']:.6f} | {r['e_cos_min']:.5f} / {r['e_cos_mean']:.6f} |")
        if queries is not None:
            line += f" {r['span_top1']} / {r['span_top10']} | {r['name_top1']} / {r['name_top10']} |"
        print(line, file=sys.stderr)
    verdict = "met" if goal_met else "NOT met"
    print(f"\nGoal (glinker fp32 ≥ {GOAL_SPEEDUP}× the plain loop, exact systems cosine ≥ {MIN_COSINE}): {verdict}",
          file=sys.stderr)
    print(json.dumps({"texts": len(texts), "mean_tokens": round(mean_tok, 2), "batch_size": bs, "rows": rows,
                      "mention_queries": None if queries is None else len(queries[0]),
                      "exact_cosine_ok": exact_ok, "goal_met": goal_met}))
    return 0 if exact_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
