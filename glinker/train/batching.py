"""Training batches: examples -> encoder windows, length buckets, per-batch label sets and targets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from glinker.model.inputs import Window, WindowBatch, collate_windows, make_windows, word_token_ids
from glinker.train.data import NerExample, resplit


@dataclass
class Prepared:
    """An example ready for the encoder: one window plus its in-window spans."""

    window: Window
    spans: list[tuple[int, int, str]]

    @property
    def n_tokens(self) -> int:
        return len(self.window.token_ids)


def prepare_examples(
    examples: Sequence[NerExample],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_width: int,
    max_words: int,
    max_tokens: int,
    pooling: str = "first",
    split: bool = True,
) -> list[Prepared]:
    """Tokenise examples and truncate each to its first window.

    Words are re-split with the inference splitter (``split``), spans wider than
    ``max_width`` words or running past the window are dropped, empty texts skipped.
    """
    exs = [resplit(e) if split else e for e in examples]
    exs = [e for e in exs if e.tokens]
    ids = word_token_ids(tokenizer, [e.tokens for e in exs])
    out: list[Prepared] = []
    for i, (ex, word_ids) in enumerate(zip(exs, ids, strict=True)):
        wins = make_windows(i, word_ids, tokenizer, max_words=max_words, max_tokens=max_tokens, overlap=0,
                            pooling=pooling)
        if not wins:
            continue
        win = wins[0]
        n = win.end - win.start
        spans = [(s, e, lab) for s, e, lab in ex.spans if e < n and e - s < max_width]
        out.append(Prepared(win, sorted(set(spans))))
    return out


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, pool_batches: int = 50
) -> list[list[int]]:
    """Length-bucketed batches for one epoch, deterministic in (seed, epoch).

    Shuffle, cut into pools of ``pool_batches`` batches, sort each pool by length,
    cut into batches, shuffle the batches: little padding, still random order.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches: list[list[int]] = []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p : p + pool], key=lambda i: lengths[i])
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def batch_labels(
    items: Sequence[Prepared],
    rng: random.Random,
    negative_pool: Sequence[str] = (),
    num_negatives: int = 0,
    max_labels: int = 30,
) -> list[str]:
    """The batch's label set: every positive type in it, plus sampled negative types.

    Positives beyond ``max_labels`` are subsampled (their spans then simply have no target).
    """
    positives = sorted({lab for it in items for _, _, lab in it.spans})
    if len(positives) > max_labels:
        positives = rng.sample(positives, max_labels)
    labels = list(positives)
    room = max(0, min(num_negatives, max_labels - len(labels)))
    if room and negative_pool:
        have = set(labels)
        cands = [lab for lab in rng.sample(list(negative_pool), min(len(negative_pool), room * 3)) if lab not in have]
        labels.extend(cands[:room])
    rng.shuffle(labels)
    return labels


@dataclass
class TrainBatch:
    """Encoder tensors, label strings, span targets (B, L, K, C) and the valid-span mask (B, L, K).

    ``ignore`` (B, L, K, C), when set, marks cells that are neither positive nor negative: a label
    compatible with one the span has (see :func:`glinker.train.label_names.compatible_names`).
    """

    inputs: WindowBatch
    labels: list[str]
    targets: torch.Tensor
    valid: torch.Tensor
    ignore: torch.Tensor | None = None

    def loss_mask(self) -> torch.Tensor:
        """Cells the loss counts: valid spans, minus ignored (span, label) pairs."""
        mask = self.valid.unsqueeze(-1).expand_as(self.targets)
        return mask & ~self.ignore if self.ignore is not None else mask


def make_batch(
    items: Sequence[Prepared],
    labels: Sequence[str],
    pad_id: int,
    max_width: int,
    coarse: frozenset[str] | set[str] = frozenset(),
    demote_prob: float = 0.0,
    rng: random.Random | None = None,
    compatible: dict[str, frozenset[str]] | None = None,
) -> TrainBatch:
    """Collate windows and build targets; a span (i, k) is valid when i + k < length.

    A span that has both a ``coarse`` label (person, location, ...) and a finer one in
    the batch keeps the coarse label as a positive only with probability ``1 - demote_prob``:
    otherwise it is a negative, so that where both are offered the finer label scores
    higher (CrossNER wants "country", not "location").

    ``compatible`` maps a label to the labels that may also be true of its spans; those cells
    are ignored unless the span has them as positives.
    """
    inputs = collate_windows([it.window for it in items], pad_id)
    b, length, c = len(items), inputs.num_words, len(labels)
    index = {lab: j for j, lab in enumerate(labels)}
    targets = torch.zeros((b, length, max_width, c))
    ignore = torch.zeros((b, length, max_width, c), dtype=torch.bool) if compatible else None
    for bi, it in enumerate(items):
        if ignore is not None:
            for s, e, lab in it.spans:
                for other in compatible.get(lab, ()):
                    j = index.get(other)
                    if j is not None:
                        ignore[bi, s, e - s, j] = True
        fine = {(s, e) for s, e, lab in it.spans if lab not in coarse and lab in index}
        for s, e, lab in it.spans:
            j = index.get(lab)
            if j is None:
                continue
            if demote_prob > 0 and lab in coarse and (s, e) in fine and rng is not None and rng.random() < demote_prob:
                continue
            targets[bi, s, e - s, j] = 1.0
    if ignore is not None:
        ignore &= targets == 0  # a label the span has is a positive, whatever else it is compatible with
    lengths = torch.tensor(inputs.lengths)
    starts = torch.arange(length).view(1, length, 1)
    widths = torch.arange(max_width).view(1, 1, max_width)
    valid = (starts + widths) < lengths.view(b, 1, 1)
    return TrainBatch(inputs, list(labels), targets, valid, ignore)
