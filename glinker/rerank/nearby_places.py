"""Places the words around a mention name: "Lisbon is a small town in New Hampshire" is not Portugal's capital.

A Wikidata description says where a place lies in its first location phrase: "town in New Hampshire, USA",
"county seat of Floyd County, Georgia, United States", "county in Georgia, United States". Among the candidates
that bear the mention's name (its homonyms), when the text within a bounded window around the mention names where
one place lies, the other places of that name are not meant unless the text names some place of their own
descriptions too: "Rome, the seat of Floyd County" is the Rome that Floyd County holds, and "Floyd County ...
northwest Georgia" the Georgian one of the Floyd Counties.

A place named nearby also qualifies a mention through its own description: "Atlanta has been the capital of
Georgia" names Atlanta, "city in ... Georgia, United States", so the Georgia meant is the one in the United States
(:meth:`NearbyPlaces.neighbour_qualifier`; the compatibility rules then treat "United States" like the qualifier of
"Georgia, United States" in the text itself).

Only a location below the country counts (a state, county, city: :data:`SUBNATIONAL`). A country or continent is
named near its own places' namesakes all the time ("Paris" near "France", and Paris, Texas is no further away in the
description of a French town's twin), so it places nothing. The location is the description's most specific
place, so a text must name "Floyd County", not just "Georgia", to place Rome in Georgia. Places are recognised by
their classes and the classes' superclasses in the KB (a "county of Georgia" is a county of the United States), so
the rule needs no statements beyond P31/P279 and works for any KB built from a dump.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from glinker.kb import KnowledgeBase
from glinker.kb.normalize import normalize_alias
from glinker.kb.store import alias_keys
from glinker.types import EntityRecord
from glinker.wikidata_classes import FIRST_LEVEL_DIVISIONS, PLACE_TYPES, QUALIFIER_TYPES

# Classes of places below the country: first-level divisions, counties, regions of a country, settlements (the
# qualifier classes that are not countries, continents or regions, nor "political territorial entity", Q1048835,
# which a country and the European Union are too), and "human settlement" (Q486972), the superclass of most city
# and town classes.
SUBNATIONAL = frozenset(FIRST_LEVEL_DIVISIONS | (set(QUALIFIER_TYPES) - set(PLACE_TYPES) - {"Q1048835"}) | {"Q486972"})
# Classes (P31) of the places at or above the country: countries, continents, regions, historical states.
COUNTRY_LEVEL = frozenset(PLACE_TYPES) - FIRST_LEVEL_DIVISIONS
# Classes of any place a mention may name: the sub-national ones and countries, continents, regions.
PLACES = SUBNATIONAL | frozenset(PLACE_TYPES)

MEMO_SIZE = 200_000  # names remembered per memo

# The first capitalised run after "in" or "of" (the words "of"/"the" may join it: "Isle of Man").
_LOCATION = re.compile(r"\b(?:in|of)\s+(?:the\s+)?([A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’.-]*)*)")
# Every capitalised run of a description, split at commas ("Harris County", "Texas").
_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’.-]*)*")


def description_location(description: str) -> str | None:
    """The place a description puts its entity in: the first capitalised run after "in" or "of", up to the first
    comma ("county seat of Floyd County, Georgia" -> "Floyd County"); ``None`` when there is none."""
    match = _LOCATION.search(description)
    return match.group(1).rstrip(".") if match else None


class NearbyPlaces:
    """Which place candidates of a mention the text around it rules out (module docstring).

    Args:
        kb: The KB whose class records and names tell places apart.
        window_chars: Characters on each side of the mention searched for the candidates' locations; bounded,
            so a paragraph gets the same flags alone and inside a long document.
    """

    def __init__(self, kb: KnowledgeBase, window_chars: int = 400) -> None:
        self.kb = kb
        self.window_chars = int(window_chars)
        self._classes: dict[str, frozenset[str]] = {}
        self._subnational: dict[str, bool] = {}
        self._local: dict[str, EntityRecord | None] = {}

    def _memo_bound(self) -> None:
        """Keep the memos bounded in a long-running server: start again past :data:`MEMO_SIZE` names."""
        for memo in (self._subnational, self._local):
            if len(memo) > MEMO_SIZE:
                memo.clear()

    def classes(self, record: EntityRecord) -> frozenset[str]:
        """The record's P31 classes and their P279 superclasses as the KB holds them (one level)."""
        missing = [t for t in record.types if t not in self._classes]
        if missing:
            found = self.kb.store.get_many(missing)
            for t in missing:
                rec = found.get(t)
                self._classes[t] = frozenset((t, *(rec.superclasses if rec is not None else ())))
        return frozenset().union(*(self._classes[t] for t in record.types))

    def is_place(self, record: EntityRecord) -> bool:
        """Whether the record is a place of any size (a settlement, division, country, region)."""
        return bool(self.classes(record) & PLACES)

    def below_country(self, record: EntityRecord) -> bool:
        """Whether the record is a place below the country (a city, county, state), not a country or region."""
        return bool(self.classes(record) & SUBNATIONAL) and not COUNTRY_LEVEL.intersection(record.types)

    def subnational(self, name: str) -> bool:
        """Whether one of the KB's three most popular readings of ``name`` is a place below the country."""
        key = normalize_alias(name)
        if key not in self._subnational:
            self._memo_bound()
            self._subnational[key] = any(map(self.below_country, self.kb.records_named(name, limit=3)))
        return self._subnational[key]

    def neighbour_qualifier(self, mention: str, neighbours: Sequence[str]) -> str | None:
        """The qualifier that follows ``mention`` in the description of a place named by ``neighbours`` (other
        mentions' texts within the window): "Atlanta" -> "city in ... Georgia, United States" gives "United
        States" for "Georgia". Each neighbour stands for the KB's most popular entity of its name, and only a
        place below the country counts (a city, county or state, whose description says where it is)."""
        after = None
        own = normalize_alias(mention)
        for name in dict.fromkeys(neighbours):
            key = normalize_alias(name)
            if key == own:
                continue
            if key not in self._local:
                self._memo_bound()
                top = self.kb.records_named(name, limit=1)
                self._local[key] = top[0] if top and self.below_country(top[0]) else None
            rec = self._local[key]
            if rec is not None and mention in rec.description:
                after = after or re.compile(r"(?<!\w)" + re.escape(mention) + r",\s+(" + _RUN.pattern + ")")
                match = after.search(rec.description)
                if match:
                    return match.group(1).rstrip(".")
        return None

    def ruled_out(self, start: int, end: int, text: str, records: Sequence[EntityRecord | None]) -> list[bool]:
        """Per candidate record of the mention ``text[start:end]``: True when it is a place of the mention's name
        whose description names no place the window names, and another place of that name is placed by the
        window (its description's location, below the country, is named there)."""
        if not 0 <= start < end <= len(text):
            return [False] * len(records)
        mention = normalize_alias(text[start:end])
        window = text[max(0, start - self.window_chars):start] + "\n" + text[end:end + self.window_chars]

        def named(place: str) -> bool:
            return (normalize_alias(place) != mention and self.subnational(place)
                    and re.search(r"(?<!\w)" + re.escape(place) + r"(?!\w)", window) is not None)

        homonyms = [rec is not None and self.is_place(rec) and mention in alias_keys(rec) for rec in records]
        placed = [False] * len(records)
        for i, rec in enumerate(records):
            if homonyms[i]:
                where = description_location(rec.description)
                placed[i] = bool(where) and named(where)
        if not any(placed):
            return [False] * len(records)
        # a homonym the window places anywhere its description says (a state, not the county) stays
        return [h and not p and not any(named(r.strip(" .")) for r in _RUN.findall(rec.description))
                for h, p, rec in zip(homonyms, placed, records)]
