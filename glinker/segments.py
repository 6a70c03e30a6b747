"""Long documents cut into segments that the pipeline links one at a time.

A mention's links must not depend on how long its document is: detection windows, context
windows, coherence ("the entities the other mentions resolve to") and the span fixes all look
at the text around a mention, and over a whole 20,000-word document they see hundreds of
unrelated mentions (and cost grows with their square). So a document longer than
:data:`SEGMENT_CHARS` is linked segment by segment, each segment exactly as if it were a
document of its own, and the mentions are shifted back to document offsets.

Segments follow the text's own structure: every paragraph (text between blank lines) is a
segment, so a paragraph inside a long document is linked as it is alone; only a paragraph
longer than the limit is cut further, into runs of whole lines, then of sentences, then of
words, each as long as the limit allows. A document at most :data:`SEGMENT_CHARS` long is one
segment: it is linked whole, as before.
"""

from __future__ import annotations

import re

# 10,000 characters (about 1,700 words): a long news article. All but two of the 1,149 shared EL
# benchmark documents, on which the reranker's document features were fitted, are shorter (two
# wiki-fair articles of 14.5k and 18.3k characters), so they are linked whole as before; a segment of a
# longer text holds at most a few hundred mentions, so the per-segment work (coherence: each mention
# against the others) stays bounded and the cost per word does not grow with the document.
SEGMENT_CHARS = 10_000

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# finer cuts for an over-long paragraph: line breaks, sentence ends (after . ! ? and closing quotes), spaces
_FINER = (re.compile(r"\n\s*"), re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+"), re.compile(r"\s+"))


def segment_bounds(text: str, max_chars: int | None = SEGMENT_CHARS) -> list[tuple[int, int]]:
    """Character ranges ``[start, end)`` of the segments of ``text``, in order.

    ``text`` itself (one range) when it is at most ``max_chars`` long or ``max_chars`` is ``None``.
    Otherwise one range per paragraph, whitespace around it left out; a paragraph longer than
    ``max_chars`` becomes runs of whole lines, sentences or words of at most ``max_chars``
    (a word longer than that is cut). Whitespace-only paragraphs give no segment.
    """
    if max_chars is None or len(text) <= max_chars:
        return [(0, len(text))]
    if max_chars < 1:
        raise ValueError(f"segment max_chars must be at least 1 (or None: whole documents), got {max_chars}")
    out: list[tuple[int, int]] = []
    for lo, hi in _pieces(text, 0, len(text), _PARAGRAPH_BREAK):
        out.extend(_fit(text, lo, hi, max_chars, 0))
    return out


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
