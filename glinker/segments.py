"""Long documents in bounded pieces: what the pipeline detects in, and which mentions vote for which.

A mention's links must not depend on how long its document is. Over a whole 20,000-word
document, coherence ("the entities the other mentions resolve to") sees hundreds of unrelated
mentions, and its cost, like that of the span fixes, grows with their square. So a document longer
than :data:`WHOLE_CHARS` is linked in pieces:

* **segments** (:func:`segment_bounds`): every paragraph (text between blank lines), a paragraph
  longer than :data:`PIECE_CHARS` cut into runs of whole lines, then sentences, then words. A
  segment is what the detector and the reranker's context windows read, as if it were a
  document of its own, so a paragraph is detected the same alone and inside a long document.
* **neighbourhood**: the mentions that vote in a mention's coherence are those of the same
  document starting within :data:`NEIGHBOURHOOD_CHARS` of it, across paragraphs, never the whole
  document.
* **batches** (:func:`batches`): runs of segments of about :data:`BATCH_CHARS` linked together, with
  the segments within the neighbourhood on either side linked along as voters only, so the
  result does not depend on where a batch starts and memory holds one batch plus the output.

A document of at most :data:`WHOLE_CHARS` characters is one segment and every mention votes:
it is linked whole, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# 10,000 characters (about 1,700 words): a long news article. All but two of the 1,149 shared EL
# benchmark documents, on which the reranker's document features were fitted, are shorter (two
# wiki-fair articles of 14.5k and 18.3k characters), so they are linked whole as before.
WHOLE_CHARS = 10_000
# About 330 words: a long paragraph, and one detector window (384 words) of text.
PIECE_CHARS = 2_000
# Coherence votes from up to 2,000 characters on either side: 4,000 characters, five to ten news
# paragraphs, about a median news-fair article (3,039 characters) — the kind of document the
# coherence features were fitted on — whose mentions mostly share its topic.
NEIGHBOURHOOD_CHARS = 2_000
# Segments linked per call in a long document: the voters linked along on both sides add
# 2 * NEIGHBOURHOOD_CHARS / BATCH_CHARS (10 %) to the work.
BATCH_CHARS = 40_000

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# finer cuts for an over-long paragraph: line breaks, sentence ends (after . ! ? and closing quotes), spaces
_FINER = (re.compile(r"\n\s*"), re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+"), re.compile(r"\s+"))


def segment_bounds(text: str, whole_chars: int | None = WHOLE_CHARS,
                   piece_chars: int = PIECE_CHARS) -> list[tuple[int, int]]:
    """Character ranges ``[start, end)`` of the segments of ``text``, in order.

    ``text`` itself (one range) when it is at most ``whole_chars`` long or ``whole_chars`` is
    ``None``. Otherwise one range per paragraph, whitespace around it left out; a paragraph longer
    than ``piece_chars`` becomes runs of whole lines, sentences or words of at most ``piece_chars``
    (a word longer than that is cut). Whitespace-only paragraphs give no segment.
    """
    if whole_chars is None or len(text) <= whole_chars:
        return [(0, len(text))]
    if piece_chars < 1:
        raise ValueError(f"segment piece_chars must be at least 1, got {piece_chars}")
    out: list[tuple[int, int]] = []
    for lo, hi in _pieces(text, 0, len(text), _PARAGRAPH_BREAK):
        out.extend(_fit(text, lo, hi, piece_chars, 0))
    return out


def batches(bounds: list[tuple[int, int]], batch_chars: int = BATCH_CHARS,
            reach: int = NEIGHBOURHOOD_CHARS) -> Iterator[tuple[int, int, int, int]]:
    """Batches over ``bounds`` (ordered segments of one document) as index ranges ``(a, i, j, b)``.

    Segments ``i:j`` are the batch's own (consecutive, spanning at least ``batch_chars`` characters
    unless the document ends); ``a:i`` and ``j:b`` are the segments holding text within ``reach``
    characters before and after them (voters for the batch's mentions). Every segment is in the
    ``i:j`` part of exactly one batch.
    """
    i = 0
    while i < len(bounds):
        j = i + 1
        while j < len(bounds) and bounds[j - 1][1] - bounds[i][0] < batch_chars:
            j += 1
        a = i
        while a > 0 and bounds[a - 1][1] > bounds[i][0] - reach:
            a -= 1
        b = j
        while b < len(bounds) and bounds[b][0] <= bounds[j - 1][1] + reach:
            b += 1
        yield a, i, j, b
        i = j


def _pieces(text: str, lo: int, hi: int, sep: re.Pattern) -> list[tuple[int, int]]:
    """``text[lo:hi]`` split at ``sep``, each piece without surrounding whitespace, empty ones dropped."""
    out = []
    start = lo
    for m in sep.finditer(text, lo, hi):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, hi))
    stripped = []
    for a, b in out:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            stripped.append((a, b))
    return stripped


def _fit(text: str, lo: int, hi: int, max_chars: int, level: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` as consecutive runs of at most ``max_chars``, cut at the separators of ``_FINER[level:]``."""
    if hi - lo <= max_chars:
        return [(lo, hi)]
    if level == len(_FINER):  # one word longer than a segment (a URL, a base64 blob): cut it
        return [(a, min(a + max_chars, hi)) for a in range(lo, hi, max_chars)]
    parts = [p for a, b in _pieces(text, lo, hi, _FINER[level]) for p in _fit(text, a, b, max_chars, level + 1)]
    runs: list[tuple[int, int]] = []
    for a, b in parts:  # pack whole parts greedily: a run ends where the next part would overflow it
        if runs and b - runs[-1][0] <= max_chars:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs
