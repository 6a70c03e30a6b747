"""Zero-shot NER evaluation (GLiNER's protocol): exact-match micro P / R / F1.

Each dataset is scored with its full label set as the labels, flat NER, threshold 0.5
(0.4 reported on request). A prediction is correct when (sentence, start, end, label)
equals a gold entity. Sentences are the corpus tokens joined by spaces; both gold and
predicted spans are compared as character offsets in that text, so the detector's own
word splitting cannot hide a boundary error.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glinker.train.data import NerExample, labels_of, natural_label, read_examples

logger = logging.getLogger(__name__)

Entity = tuple[int, int, int, str]  # (sentence, char start, char end, label)


@dataclass(frozen=True)
class Scores:
    """Micro-averaged counts and scores (percentages)."""

    tp: int
    n_pred: int
    n_gold: int

    @property
    def precision(self) -> float:
        """Percent of predicted spans that match gold (span and type)."""
        return 100.0 * self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        """Percent of gold spans predicted (span and type)."""
        return 100.0 * self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall, in percent."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        """The metrics rounded to two decimals, with the raw counts."""
        return {"precision": round(self.precision, 2), "recall": round(self.recall, 2), "f1": round(self.f1, 2),
                "tp": self.tp, "n_pred": self.n_pred, "n_gold": self.n_gold}


def micro_scores(gold: Iterable[Entity], pred: Iterable[Entity]) -> Scores:
    """Exact-match micro scores over entity tuples (duplicates count once)."""
    g, p = set(gold), set(pred)
    return Scores(len(g & p), len(p), len(g))


def per_type_scores(gold: Iterable[Entity], pred: Iterable[Entity]) -> dict[str, Scores]:
    """Scores restricted to each label (gold or predicted)."""
    g, p = set(gold), set(pred)
    labels = sorted({e[3] for e in g} | {e[3] for e in p})
    return {lab: micro_scores([e for e in g if e[3] == lab], [e for e in p if e[3] == lab]) for lab in labels}


def type_confusions(gold: Iterable[Entity], pred: Iterable[Entity], top: int = 20) -> dict:
    """Right span, wrong label: the most frequent ``"gold -> predicted"`` pairs, and the span recall."""
    by_span = {g[:3]: g[3] for g in set(gold)}
    pairs: Counter = Counter()
    found = set()
    for p in set(pred):
        lab = by_span.get(p[:3])
        if lab is None:
            continue
        found.add(p[:3])
        if lab != p[3]:
            pairs[f"{lab} -> {p[3]}"] += 1
    return {"span_recall": round(100.0 * len(found) / len(by_span), 2) if by_span else 0.0,
            "confusions": dict(pairs.most_common(top))}


def to_text(example: NerExample) -> tuple[str, list[tuple[int, int, str]]]:
    """Join tokens with spaces; return the text and gold spans as character offsets."""
    starts, ends, pos = [], [], 0
    for tok in example.tokens:
        starts.append(pos)
        pos += len(tok)
        ends.append(pos)
        pos += 1
    return " ".join(example.tokens), [(starts[s], ends[e], lab) for s, e, lab in example.spans]


def load_eval_set(path: str | Path, fmt: str = "auto", labels: Sequence[str] | None = None
                  ) -> tuple[list[NerExample], list[str]]:
    """Read a dataset and its label set.

    A ``labels.json`` next to the file (GLiNER's CrossNER folders) defines the label set and
    tags are kept verbatim, as in GLiNER's evaluation; otherwise tags are mapped to
    natural-language labels and the label set is every gold label. ``labels`` overrides both.
    """
    path = Path(path)
    side = path.parent / "labels.json"
    if side.is_file():
        examples = read_examples(path, fmt, label_map=None)
        label_set = [str(x) for x in json.loads(side.read_text(encoding="utf-8"))]
        examples = _align_gold_types(examples, label_set, path)
    else:
        examples = read_examples(path, fmt, label_map=natural_label)
        label_set = labels_of(examples)
    if labels:
        label_set = list(labels)
    return examples, label_set


_MISC = {"misc", "miscellaneous", "else", "other"}


def _align_gold_types(examples: list[NerExample], label_set: Sequence[str], path: Path) -> list[NerExample]:
    """Rename gold types missing from the label set to the label they spell differently.

    CrossNER_music/dev.json tags 260 spans "organisation"/"misc" while its labels.json
    says "organization"/"else": without this those spans could never be matched.
    """
    by_key = {natural_label(lab): lab for lab in label_set}
    misc = next((lab for lab in label_set if lab.lower() in _MISC), None)
    renamed: Counter = Counter()
    out = []
    for ex in examples:
        spans = []
        for s, e, lab in ex.spans:
            if lab not in label_set:
                new = by_key.get(natural_label(lab)) or (misc if lab.lower() in _MISC else None)
                if new:
                    renamed[(lab, new)] += 1
                    lab = new
            spans.append((s, e, lab))
        out.append(NerExample(ex.tokens, spans))
    for (old, new), n in renamed.items():
        logger.warning("%s: %d gold spans typed %r renamed to the label-set entry %r", path, n, old, new)
    return out


def evaluate_examples(
    detector,
    examples: Sequence[NerExample],
    labels: Sequence[str],
    thresholds: Sequence[float] = (0.5,),
    batch_size: int = 32,
    per_type: bool = False,
    progress: bool = False,
    confusions: bool = False,
) -> dict:
    """Run ``detector.detect`` once at the lowest threshold and score every threshold.

    ``confusions``: also count, per threshold, the predictions with a gold span's exact
    boundaries but another label (``"gold -> predicted"``), and the share of gold spans found
    with the right boundaries whatever the label (``span_recall``).

    Greedy decoding visits spans by descending score, so decoding at a low threshold and
    keeping spans above a higher one equals decoding at the higher one.
    """
    thresholds = sorted(set(float(t) for t in thresholds))
    texts, gold = [], []
    for i, ex in enumerate(examples):
        text, spans = to_text(ex)
        texts.append(text)
        gold.extend((i, s, e, lab) for s, e, lab in spans)
    detector.threshold = thresholds[0]
    preds: list[tuple[int, int, int, str, float]] = []
    t0 = time.time()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    chunk = max(1, batch_size) * 8
    it = range(0, len(order), chunk)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="evaluate", unit="chunk", leave=False)
    for s in it:
        idx = order[s : s + chunk]
        for i, mentions in zip(idx, detector.detect([texts[i] for i in idx], labels), strict=True):
            preds.extend((i, m.start, m.end, m.label, m.score) for m in mentions)
    seconds = time.time() - t0
    out: dict = {"n_sentences": len(examples), "n_gold": len(set(gold)), "labels": list(labels),
                 "seconds": round(seconds, 1), "thresholds": {}}
    for t in thresholds:
        kept = [p[:4] for p in preds if p[4] > t]
        res = micro_scores(gold, kept).to_dict()
        if per_type:
            res["per_type"] = {k: v.to_dict() for k, v in per_type_scores(gold, kept).items()}
        if confusions:
            res.update(type_confusions(gold, kept))
        out["thresholds"][f"{t:g}"] = res
    return out


def format_table(results: dict[str, dict]) -> str:
    """A readable table of ``{dataset: evaluate_examples(...)}`` results."""
    lines = [f"{'dataset':<40} {'thr':>4} {'P':>6} {'R':>6} {'F1':>6} {'gold':>6} {'pred':>6}"]
    for name, res in results.items():
        for t, sc in res["thresholds"].items():
            lines.append(f"{name[-40:]:<40} {t:>4} {sc['precision']:6.1f} {sc['recall']:6.1f} {sc['f1']:6.1f} "
                         f"{sc['n_gold']:6d} {sc['n_pred']:6d}")
            for lab, ts in (sc.get("per_type") or {}).items():
                lines.append(f"  {lab[:38]:<38} {'':>4} {ts['precision']:6.1f} {ts['recall']:6.1f} {ts['f1']:6.1f} "
                             f"{ts['n_gold']:6d} {ts['n_pred']:6d}")
    return "\n".join(lines)


def average_f1(results: dict[str, dict]) -> dict[str, float]:
    """Unweighted mean F1 over datasets, per threshold."""
    sums: Counter = Counter()
    counts: Counter = Counter()
    for res in results.values():
        for t, sc in res["thresholds"].items():
            sums[t] += sc["f1"]
            counts[t] += 1
    return {t: round(sums[t] / counts[t], 2) for t in sums}
