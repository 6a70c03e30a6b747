"""Text → words → token windows: the inputs of the span bi-encoder.

Words follow GLiNER's splitter (regex ``\\w+(?:[-_]\\w+)*|\\S``) with character
offsets. Long documents are cut into overlapping windows that each fit the
encoder (word and sub-token budgets), never truncated; a span is kept only from
the window whose *core* holds its first word, so each span is scored once in a
window where it has context on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

_WORD_RE = re.compile(r"\w+(?:[-_]\w+)*|\S")


@dataclass(frozen=True)
class Words:
    """A text's words with character offsets (end exclusive)."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]

    def __len__(self) -> int:
        return len(self.tokens)


def split_words(text: str) -> Words:
    """Split text into GLiNER words with character offsets."""
    tokens, starts, ends = [], [], []
    for m in _WORD_RE.finditer(text):
        tokens.append(m.group())
        starts.append(m.start())
        ends.append(m.end())
    return Words(tokens, starts, ends)


@dataclass(frozen=True)
class Window:
    """A slice of one document's words fed to the encoder as one sequence.

    ``core_start``/``core_end`` (document word indices, end exclusive) is the part
    whose spans this window owns.
    """

    doc: int
    start: int
    end: int
    core_start: int
    core_end: int
    token_ids: tuple[int, ...]
    word_first_token: tuple[int, ...]  # per word in the window: index in token_ids of its representative sub-token


def word_token_ids(tokenizer: PreTrainedTokenizerBase, docs: list[list[str]]) -> list[list[list[int]]]:
    """Sub-token ids of every word, tokenising each document once (no special tokens)."""
    out: list[list[list[int]]] = []
    nonempty = [d for d in docs if d]
    # whole documents are tokenised once here and windowed later: silence the length warning
    enc = tokenizer(nonempty, is_split_into_words=True, add_special_tokens=False, verbose=False) if nonempty else None
    k = 0
    for words in docs:
        per_word: list[list[int]] = [[] for _ in words]
        if words:
            ids = enc["input_ids"][k]
            for tok_id, w in zip(ids, enc.word_ids(k)):
                if w is not None:
                    per_word[w].append(tok_id)
            k += 1
        out.append(per_word)
    return out


def make_windows(
    doc: int,
    word_ids: list[list[int]],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_words: int,
    max_tokens: int,
    overlap: int,
    pooling: str = "first",
) -> list[Window]:
    """Cover a document with windows of at most ``max_words`` words and ``max_tokens`` sub-tokens.

    Consecutive windows share ``overlap`` words; cores meet in the middle of each overlap.
    A word with no sub-tokens (rare control characters) gets the unknown token.
    """
    n = len(word_ids)
    if n == 0:
        return []
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    lengths = [max(1, len(w)) for w in word_ids]
    prefix, suffix = special_tokens(tokenizer)
    budget = max_tokens - len(prefix) - len(suffix)
    bounds: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and end - start < max_words and used + min(lengths[end], budget) <= budget:
            used += min(lengths[end], budget)
            end += 1
        end = max(end, start + 1)
        bounds.append((start, end))
        if end >= n:
            break
        # Next window starts `overlap` words back, but advances by at least half a
        # window, so a tight token budget cannot create a flood of tiny windows.
        start = max(start + 1, end - min(overlap, (end - start) // 2))
    windows = []
    for i, (s, e) in enumerate(bounds):
        core_s = 0 if i == 0 else (bounds[i - 1][1] + s) // 2
        core_e = n if i == len(bounds) - 1 else (e + bounds[i + 1][0]) // 2
        body: list[int] = []
        rep: list[int] = []
        for w in range(s, e):
            toks = word_ids[w] or [unk]
            toks = toks[:budget]
            rep.append(len(body) + (0 if pooling == "first" else len(toks) - 1))
            body.extend(toks)
        full = prefix + tuple(body) + suffix
        windows.append(Window(doc, s, e, core_s, core_e, full, tuple(r + len(prefix) for r in rep)))
    return windows


_SPECIALS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The special-token ids the tokenizer puts before and after one sequence."""
    key = id(tokenizer)
    if key not in _SPECIALS:
        enc = tokenizer([["word"]], is_split_into_words=True, add_special_tokens=True)
        ids, wids = enc["input_ids"][0], enc.word_ids(0)
        first = wids.index(0)
        last = len(wids) - 1 - wids[::-1].index(0)
        _SPECIALS[key] = (tuple(ids[:first]), tuple(ids[last + 1 :]))
    return _SPECIALS[key]


@dataclass
class WindowBatch:
    """Padded tensors for a batch of windows."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    words_mask: torch.Tensor
    num_words: int
    lengths: list[int]


def collate_windows(windows: list[Window], pad_id: int) -> WindowBatch:
    """Pad windows into tensors; ``words_mask`` marks each word's representative sub-token (1-based)."""
    max_t = max(len(w.token_ids) for w in windows)
    num_words = max(w.end - w.start for w in windows)
    ids = torch.full((len(windows), max_t), pad_id, dtype=torch.long)
    att = torch.zeros((len(windows), max_t), dtype=torch.long)
    wm = torch.zeros((len(windows), max_t), dtype=torch.long)
    for b, w in enumerate(windows):
        ids[b, : len(w.token_ids)] = torch.tensor(w.token_ids, dtype=torch.long)
        att[b, : len(w.token_ids)] = 1
        for j, t in enumerate(w.word_first_token):
            wm[b, t] = j + 1
    return WindowBatch(ids, att, wm, num_words, [w.end - w.start for w in windows])
