"""The ``context_names`` feature: how many of the names in a candidate's description the text around the
mention also names.

A Wikidata description says where or what an entity is in a few words, and its capitalised words are
mostly names: "town in Grafton County, New Hampshire, United States", "capital of South Carolina",
"American film director". Text about that entity tends to name the same places and groups nearby:
"Lisbon is a small town in Grafton County, New Hampshire" is the Lisbon of the first description and not
the capital of Portugal. The feature is the share of a candidate's description names (distinct
capitalised words, the mention's own words left out) that occur as words in a window of text around the
mention (its own span left out). The window is bounded, so a paragraph scores the same alone and inside a
long document, and the work per mention is constant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from glinker.types import Candidate, EntityRecord, Mention

# A word: letters first, then letters, digits, apostrophes, hyphens.
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@lru_cache(maxsize=200_000)
def description_names(description: str) -> frozenset[str]:
    """The distinct capitalised words of a description ("United", "States"; not "town", not "I")."""
    return frozenset(w for w in _WORD.findall(description) if len(w) > 1 and w[0].isupper())


def _window_words(text: str, start: int, end: int, chars: int) -> set[str]:
    """Capitalised words within ``chars`` characters of ``[start, end)``, the span itself left out."""
    left = text[max(0, start - chars):start]
    right = text[end:end + chars]
    return {w for part in (left, right) for w in _WORD.findall(part) if w[0].isupper()}


def context_name_scores(mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]],
                        contexts: Sequence[str], records: Mapping[str, EntityRecord], chars: int
                        ) -> list[list[float]]:
    """Per mention, per candidate: the share of the candidate's description names found around the mention
    (0 when its description names nothing). ``contexts[i]`` is the text ``mentions[i]``'s offsets refer to;
    a mention whose offsets do not fit its context (a span given without text) scores 0 everywhere."""
    out: list[list[float]] = []
    for m, cands, text in zip(mentions, candidates, contexts):
        if not cands:
            out.append([])
            continue
        if not (0 <= m.start < m.end <= len(text)):
            out.append([0.0] * len(cands))
            continue
        around = _window_words(text, m.start, m.end, chars)
        own = set(_WORD.findall(m.text))
        row = []
        for c in cands:
            rec = records.get(c.qid)
            names = description_names(rec.description) - own if rec is not None and rec.description else frozenset()
            row.append(len(names & around) / len(names) if names else 0.0)
        out.append(row)
    return out
