"""The two towers under each runtime (torch / ONNX Runtime, fp32 / int8): speed and agreement, in one run.

    python benchmarks/bench_runtime.py [docs=20] [reps=5] [threads=1] [settings=[torch,torch+int8,onnx,onnx+int8]]

Inputs are those of linking the first ``docs`` documents of aida-conll-dev: the text tower gets the
detector's windows (8 per call, sorted by length, as ``detect`` batches them), the label tower the
reranker's shared context windows (``reranker.context_chars=200``), batched as ``encode_texts_pooled``
does. Every setting runs every batch in turn, ``reps`` times interleaved, and the median is reported
(ms per call: the tower and the gathering of word vectors, or the tower and mean pooling), with the
largest absolute difference from torch fp32 of

* the span×label logits of every scored span (default detector labels), and
* the mean-pooled context embeddings (and the smallest cosine between them).

``runtime=onnx`` needs ``pip install onnxruntime onnx``; its exports go under ``GLINKER_CACHE_DIR/onnx``
(built on first use, not timed). Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

from glinker.detection.bi_encoder import BiEncoderDetector  # noqa: E402
from glinker.detection.labels import DEFAULT_LABELS  # noqa: E402
from glinker.model.inputs import collate_windows  # noqa: E402
from glinker.model.label_tower import length_batches, pad_ids  # noqa: E402
from glinker.model.runtime import accelerated_model  # noqa: E402
from glinker.rerank.features import shared_window_bounds  # noqa: E402
from glinker.settings import data_dir  # noqa: E402


def _inputs(det: BiEncoderDetector, n: int) -> tuple[list, list]:
    path = data_dir() / "el" / "elevant" / "aida-conll-dev.benchmark.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
    _, doc_windows = det._windows(texts)
    windows = sorted((w for ws in doc_windows for w in ws), key=lambda w: len(w.token_ids))
    pad = det.bundle.tokenizer.pad_token_id or 0
    text_batches = [collate_windows(windows[s : s + det.batch_size], pad) for s in range(0, len(windows), 8)]
    cells = {t[slice(*shared_window_bounds(t, i, i + 1, 200))] for t in texts for i in range(0, len(t), 400)}
    ids = det.bundle.labels_tokenizer(sorted(cells), truncation=True, max_length=128)["input_ids"]
    ctx_batches = [pad_ids([ids[i] for i in idx], 0) for idx in length_batches([len(r) for r in ids], 64)]
    return text_batches, ctx_batches


def _states(model, batch) -> torch.Tensor:
    return model.word_states(batch.input_ids, batch.attention_mask, batch.words_mask, batch.num_words)


def main(argv: list[str]) -> None:
    opts = key_value_options(argv, {"docs": "20", "reps": "5", "threads": "1",
                                    "settings": "[torch,torch+int8,onnx,onnx+int8]"})
    torch.set_num_threads(int(opts["threads"]))
    det = BiEncoderDetector(None)
    names = [s.strip() for s in opts["settings"].strip("[]").split(",") if s.strip()]
    models = {}
    for name in names:
        runtime, _, quant = name.partition("+")
        setting = (runtime, quant or None)
        models[name] = accelerated_model(det.model, {"text": setting, "label": setting})
    text_batches, ctx_batches = _inputs(det, int(opts["docs"]))
    labels = torch.from_numpy(det.label_vectors(list(DEFAULT_LABELS)))
    times = {(n, tower): [] for n in names for tower in ("text", "label")}
    out: dict[str, dict] = {n: {} for n in names}
    with torch.inference_mode():
        ref_logits = [det.model.span_reps(_states(det.model, b)) @ labels.T for b in text_batches]
        ref_ctx = [det.model.label_embeddings(i, m) for i, m in ctx_batches]
        for rep in range(int(opts["reps"])):
            for name, model in models.items():
                t0 = time.perf_counter()
                states = [_states(model, b) for b in text_batches]
                t1 = time.perf_counter()
                ctx = [model.label_embeddings(i, m) for i, m in ctx_batches]
                t2 = time.perf_counter()
                times[name, "text"].append((t1 - t0) / len(text_batches))
                times[name, "label"].append((t2 - t1) / len(ctx_batches))
                if rep == 0:
                    logits = [model.span_reps(st) @ labels.T for st in states]
                    out[name]["logit_max_abs_diff"] = max(_diff(a, b, batch) for a, b, batch in
                                                          zip(logits, ref_logits, text_batches))
                    cat, ref = torch.cat(ctx), torch.cat(ref_ctx)
                    out[name]["context_max_abs_diff"] = (cat - ref).abs().max().item()
                    out[name]["context_min_cosine"] = torch.cosine_similarity(cat, ref).min().item()
    for name in names:
        for tower in ("text", "label"):
            out[name][f"{tower}_ms_per_call"] = round(1000 * statistics.median(times[name, tower]), 1)
    shapes = (f"text: {len(text_batches)} calls of up to {det.batch_size} windows, mean "
              f"{np.mean([b.input_ids.numel() for b in text_batches]):.0f} tokens; context: {len(ctx_batches)} calls, "
              f"mean {np.mean([i.numel() for i, _ in ctx_batches]):.0f} tokens")
    print(f"Command: `python benchmarks/bench_runtime.py {' '.join(argv)}` ({stamp()}); {shapes}", file=sys.stderr)
    print("| setting | text tower ms/call | label tower ms/call | span logit max abs diff | context emb. max abs diff "
          "| context min cosine |\n|---|---|---|---|---|---|", file=sys.stderr)
    for name in names:
        r = out[name]
        print(f"| {name} | {r['text_ms_per_call']} | {r['label_ms_per_call']} | {r['logit_max_abs_diff']:.2g} | "
              f"{r['context_max_abs_diff']:.2g} | {r['context_min_cosine']:.4f} |", file=sys.stderr)
    print(json.dumps(out))


def _diff(a: torch.Tensor, b: torch.Tensor, batch) -> float:
    """Largest |a - b| over the spans inside each window's words (padding spans are never scored)."""
    n = torch.tensor(batch.lengths).view(-1, 1, 1)
    i = torch.arange(a.shape[1]).view(1, -1, 1)
    k = torch.arange(a.shape[2]).view(1, 1, -1)
    inside = (i + k < n).unsqueeze(-1).expand_as(a)
    return (a - b).abs()[inside].max().item()


if __name__ == "__main__":
    main(sys.argv[1:])
