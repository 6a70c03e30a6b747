"""Greedy span decoding, as GLiNER does it (FIELD_NOTES §1.8)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ScoredSpan(NamedTuple):
    """A candidate span in word indices (end inclusive) with its best label."""

    start: int
    end: int
    label: int
    score: float
    ref: int  # caller's handle (e.g. index of the span vector)


def greedy_decode(spans: list[ScoredSpan], flat: bool = True) -> list[ScoredSpan]:
    """Keep the best-scoring spans that do not conflict, sorted by start.

    Flat mode rejects any overlap; nested mode rejects only partial overlap.
    Spans with identical boundaries always conflict (one label per span).
    """
    chosen: list[ScoredSpan] = []
    for span in sorted(spans, key=lambda s: -s.score):
        if not any(_conflict(span, c, flat) for c in chosen):
            chosen.append(span)
    chosen.sort(key=lambda s: s.start)  # stable: ties keep score order, as the reference
    return chosen


def _conflict(a: ScoredSpan, b: ScoredSpan, flat: bool) -> bool:
    if a.start == b.start and a.end == b.end:
        return True
    disjoint = a.start > b.end or b.start > a.end
    if flat:
        return not disjoint
    nested = (a.start <= b.start and a.end >= b.end) or (b.start <= a.start and b.end >= a.end)
    return not (disjoint or nested)


# Tokens no mention contains: brackets, quotes, separators and AIDA-style masks.
_HARD = frozenset("()[]{};*|\"“”«»")
_STOPS = frozenset(".!?")


class SpanBoundaries:
    """Where a text's words may not be spanned by one mention (an option, off in GLiNER).

    A span is refused when it contains a bracket, quote, semicolon or ``*`` token, a line
    break, or a sentence end followed by more words of the span: ``.``/``!``/``?`` after a
    word of four or more characters ("Spears. Finn"), while abbreviations such as "U.S.",
    "Inc." or "St. Louis" stay possible. The model otherwise proposes such spans across
    list items and sentences ("Mark Philippoussis ( Australia ) Andrei Olhovskiy").
    """

    def __init__(self, text: str, tokens: list[str], starts: list[int], ends: list[int]) -> None:
        hard = [0]
        brk = [0, 0]  # brk[k + 1]: breaks before words 1..k
        for k, tok in enumerate(tokens):
            hard.append(hard[-1] + (tok in _HARD))
            if k == 0:
                continue
            gap_break = "\n" in text[ends[k - 1] : starts[k]]
            prev = tokens[k - 1]
            sentence_end = prev in _STOPS and (prev != "." or (k >= 2 and len(tokens[k - 2]) >= 4))
            brk.append(brk[-1] + (gap_break or sentence_end))
        self._hard = hard
        self._brk = brk

    def allows(self, start: int, end: int) -> bool:
        """True if words ``start..end`` (inclusive) may form one mention."""
        if self._hard[end + 1] - self._hard[start]:
            return False
        return self._brk[end + 1] - self._brk[start + 1] == 0

    def allows_grid(self, first: int, count: int, width: int) -> np.ndarray:
        """``(count, width)`` bool: :meth:`allows` of words ``first + i .. first + i + k``, False past the text."""
        hard, brk = np.asarray(self._hard), np.asarray(self._brk)
        start = first + np.arange(count)[:, None]
        end = start + np.arange(width)[None, :]
        inside = end < len(hard) - 1
        s, e = np.minimum(start, len(hard) - 1), np.where(inside, end, 0)
        return inside & (hard[e + 1] == hard[s]) & (brk[e + 1] == brk[np.minimum(s + 1, len(brk) - 1)])
