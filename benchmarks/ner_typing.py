"""What the detector can type when the span is given: per CrossNER dev domain, gold-boundary typing accuracy.

    python benchmarks/ner_typing.py [model=FOLDER] [domains=[AI,literature,music,politics,science]] [max_sentences=0]

For every gold span of the five CrossNER dev sets (the dataset's full label set, as ``glinker.evaluate ner`` reads
it), three questions, each answered without decoding:

- **typed right by the model**: the label with the highest span·label score is the gold one;
- **typed right by the label tower alone**: the label whose label-tower sentence embedding is closest (cosine) to the
  embedding of the span's own text (no training involved: how far plain MiniLM similarity gets);
- **detected**: the best label's probability clears 0.5 (a span below it is never proposed).

It also lists, per domain, the labels whose score clears 0.5 on at least one span of the first sentences: a
detector that only ever fires on a handful of label names cannot type the rest, however they are decoded.
Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

DOMAINS = ["AI", "literature", "music", "politics", "science"]


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"model": "", "domains": "[" + ",".join(DOMAINS) + "]", "max_sentences": "0"})
    import torch

    from glinker.detection import BiEncoderDetector
    from glinker.evaluate.ner import load_eval_set, to_text
    from glinker.model.inputs import split_words
    from glinker.settings import resolve_data_path

    torch.set_num_threads(1)
    det = BiEncoderDetector(opts["model"] or None, num_threads=1)
    domains = [d.strip() for d in opts["domains"].strip("[]").split(",") if d.strip()]
    limit = int(opts["max_sentences"])
    rows = {}
    for dom in domains:
        path = resolve_data_path(f"ner/gliner_format/CrossNER_{dom}/dev.json")
        examples, labels = load_eval_set(path)
        examples = examples[:limit] if limit else examples
        _, label_emb = det.encode_texts_pooled(labels, precision="fp32")
        label_emb /= np.linalg.norm(label_emb, axis=1, keepdims=True)
        fired: Counter = Counter()
        items = []  # (span text, gold label index, span·label logits)
        for ex in examples:
            text, spans = to_text(ex)
            words = split_words(text)
            tokens, logits = det.span_logits(text, labels)
            fired.update(labels[c] for c in set(np.nonzero((logits > 0).any(dim=(0, 1)).numpy())[0]))
            first = {s: i for i, s in enumerate(words.starts)}
            last = {e: i for i, e in enumerate(words.ends)}
            for s, e, lab in spans:
                i, j = first.get(s), last.get(e)
                if i is None or j is None or not 0 <= j - i < logits.shape[1]:
                    continue
                items.append((text[s:e], labels.index(lab), logits[i, j - i].numpy()))
        _, span_emb = det.encode_texts_pooled([t for t, _, _ in items], precision="fp32")
        span_emb /= np.linalg.norm(span_emb, axis=1, keepdims=True)
        gold = np.array([g for _, g, _ in items])
        scores = np.stack([x for _, _, x in items])
        rows[dom] = {
            "gold_spans": len(items),
            "typed_by_model": round(100 * float((scores.argmax(1) == gold).mean()), 1),
            "typed_by_label_tower": round(100 * float(((span_emb @ label_emb.T).argmax(1) == gold).mean()), 1),
            "detected": round(100 * float((scores.max(1) > 0).mean()), 1),
            "labels": len(labels),
            "labels_firing": sorted(fired),
        }
    print("| domain | gold spans | typed right by the model | by the label tower alone | detected (p > 0.5) | labels "
          "that ever clear 0.5 |\n|---|---|---|---|---|---|")
    for dom, r in rows.items():
        print(f"| {dom} | {r['gold_spans']} | {r['typed_by_model']} | {r['typed_by_label_tower']} | {r['detected']} | "
              f"{len(r['labels_firing'])} of {r['labels']}: {', '.join(r['labels_firing'])} |")
    print(json.dumps({"stamp": stamp(), "model": opts["model"] or "default", "domains": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
