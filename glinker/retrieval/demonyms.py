"""Demonyms and adjectives of place or religion: "German" -> Germany, "S. Korean" -> South Korea,
"Moslem" -> Islam.

AIDA-style annotation links a nationality adjective to its country, but no label or alias of
the country spells the adjective, so alias lookup never proposes it ("German" finds the
language) and name retrieval ranks it low: on aida-conll-dev's held-out documents 52 of the
60 gold entities missing from every candidate list were demonyms. Wikidata's demonym
property (P1549) is not in every dump (the arnold slice has none), so the place names are
guessed from the adjective by suffix rules plus a short table of irregular forms, and kept
only when the KB has an entity of a place type under that exact name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from glinker.kb import KnowledgeBase
from glinker.retrieval.candidates import entity_dense_scores
from glinker.types import Candidate, Mention
from glinker.wikidata_classes import PLACE_TYPES, RELIGION_TYPES

# suffix of the adjective -> replacements that give the place name (tried in order)
_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ian", ("ia", "", "y", "a", "e", "ium")),  # Russian, Brazilian, Italian, Canadian, Ukrainian, Belgian
    ("ean", ("e", "ea")),  # European, Korean
    ("ese", ("", "a", "e", "on", "al")),  # Japanese, Chinese, Lebanese, Portuguese
    ("ish", ("", "and", "en", "ey", "ain")),  # English, Swedish, Turkish, British
    ("an", ("a", "o", "", "e", "any")),  # Mexican, African, German
    ("i", ("",)),  # Israeli, Pakistani, Iraqi
    ("n", ("",)),  # American -> America
)
# Forms no suffix rule reaches.
IRREGULAR = {
    "french": ("France",), "dutch": ("Netherlands",), "spanish": ("Spain",), "danish": ("Denmark",),
    "finnish": ("Finland",), "swiss": ("Switzerland",), "welsh": ("Wales",), "irish": ("Ireland",),
    "scottish": ("Scotland",), "scots": ("Scotland",), "greek": ("Greece",), "thai": ("Thailand",),
    "filipino": ("Philippines",), "norwegian": ("Norway",), "argentine": ("Argentina",), "saudi": ("Saudi Arabia",),
    "british": ("United Kingdom", "Great Britain"), "czech": ("Czech Republic",), "kiwi": ("New Zealand",),
    "peruvian": ("Peru",), "afghan": ("Afghanistan",),
    # adjectives of religion name the religion the same way (AIDA: "Moslem" -> Islam)
    "muslim": ("Islam",), "moslem": ("Islam",), "islamic": ("Islam",), "christian": ("Christianity",),
    "jewish": ("Judaism",), "catholic": ("Catholic Church",), "protestant": ("Protestantism",),
    "hindu": ("Hinduism",), "buddhist": ("Buddhism",), "sikh": ("Sikhism",), "shiite": ("Shia Islam",),
    "shi'ite": ("Shia Islam",), "sunni": ("Sunni Islam",),
}
_PREFIXES = {"s.": "South", "n.": "North", "w.": "West", "e.": "East"}
_WORD = re.compile(r"^[A-Za-z][A-Za-z.\-']*$")



def place_names(text: str) -> list[str]:
    """Place names an adjective of place or demonym may stand for, most likely first (may be empty).

    ``"Russians"`` -> ``["Russia", ...]``; words that are not capitalised adjectives give none.
    """
    words = text.strip().split()
    if not 1 <= len(words) <= 3 or not all(_WORD.match(w) for w in words):
        return []
    words = [w if not w.isupper() or len(w) <= 2 else w.capitalize() for w in words]  # "S. KOREAN" -> "S. Korean"
    *head, last = words
    if not last[:1].isupper() or len(last) < 4:
        return []
    head = [_PREFIXES.get(w.lower(), w) for w in head]
    stems = [last]
    if last.endswith("s") and not last.endswith(("ss", "ese")):
        stems.insert(0, last[:-1])  # plural demonym: Russians, Israelis
    out: list[str] = []
    for stem in stems:
        low = stem.lower()
        out.extend(IRREGULAR.get(low, ()))
        for suffix, repl in _SUFFIXES:
            if low.endswith(suffix) and len(stem) - len(suffix) >= 3:
                base = stem[: len(stem) - len(suffix)]
                out.extend(base + r for r in repl)
    names = [" ".join(head + [n]) for n in out if n.lower() != last.lower()]
    return list(dict.fromkeys(n for n in names if len(n) >= 3))


class DemonymRetriever:
    """Places named by a demonym or adjective of place, as candidates (``sources`` = ``("demonym",)``).

    Args:
        kb: The opened knowledge base.
        place_types: P31 classes a proposed entity must have one of (places and religions).
        top_k: Most candidates per mention.
    """

    name = "demonym"

    def __init__(self, kb: KnowledgeBase, place_types: Sequence[str] = PLACE_TYPES + RELIGION_TYPES,
                 top_k: int = 4) -> None:
        self.kb = kb
        self.place_types = frozenset(place_types)
        self.top_k = int(top_k)

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """Guess place names from each mention text and keep the KB places found under them."""
        guesses = [place_names(m.text) for m in mentions]
        found = [[q for name in names for q in self.kb.store.lookup_alias(name, limit=8)] for names in guesses]
        records = self.kb.store.get_many(q for qs in found for q in qs)
        out: list[list[Candidate]] = []
        for m, qids in zip(mentions, found):
            places = [q for q in dict.fromkeys(qids)
                      if q in records and self.place_types.intersection(records[q].types)][: self.top_k]
            dense = entity_dense_scores(self.kb, m, [records[q].row for q in places])
            out.append([Candidate(q, -float(k), dense_score=None if dense is None else dense[k], alias_match=False,
                                  sources=(self.name,)) for k, q in enumerate(places)])
        return out
