"""Greedy span decoding, as GLiNER does it (FIELD_NOTES §1.8)."""

from __future__ import annotations

from typing import NamedTuple


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
