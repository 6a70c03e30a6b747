"""Alias normalisation shared by KB building and lookup."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


# memoised: the reranker normalises every candidate's label and aliases for every mention, and the
# same entities come back mention after mention (a pure function of the string, so caching is exact)
@lru_cache(maxsize=1 << 18)
def normalize_alias(text: str) -> str:
    """Case-fold, strip accents, unify quotes/dashes and spacing, trim edge punctuation.

    ``"Zürich"``, ``"ZURICH"`` and ``" zurich, "`` all map to ``"zurich"``; inner
    punctuation is kept (``"AC/DC"`` → ``"ac/dc"``) because it distinguishes names.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-").replace("\u2014", "-")
    text = _SPACE.sub(" ", text.casefold()).strip()
    stripped = _EDGE_PUNCT.sub("", text)
    return stripped or text
