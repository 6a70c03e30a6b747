"""Candidates a mention's own words rule out, whatever their scores: facts of language and of Wikidata.

- **Names.** A person's full name whose given name differs from every name the KB gives a person of
  that surname is not that person: "Brigitte Macron" is not Emmanuel Macron, "Arnold Schwarzenegger"
  is not Patrick Schwarzenegger. Initials ("J. Cameron"), the KB's nicknames ("Arnie") and titles
  ("President Macron") are compatible.
- **Place qualifiers.** In "Paris, Texas" the words after the comma say where the place is. A place
  whose description places it in another first-level division ("Paris ... Kentucky") or another
  country ("Paris ... France") than the qualifier is not meant. The places named in descriptions are
  found through the KB itself (labels and aliases of countries and first-level divisions), so any
  language of descriptions and any KB size works the same way.
- **Common nouns.** A mention in lower case is a common noun ("lecturer", "research", "person"). When
  exactly one candidate has those very words as its label, or else their singular ("years": "year"),
  the concept so named is meant, and the candidates that only have them as an alias or a similar name
  ("university teacher", "researcher", "human", "years old") are ruled out. Names are left to the
  ranker: a capitalised label ("Washington") is one of many namesakes' names.
- **Numbers in a name.** "Leopold III" is not Leopold II, "Terminator 2" is not "Terminator 3: Rise of the
  Machines": a regnal or sequel number after a name's first word (Roman numerals to XXXIX, digits) that no
  name of the candidate carries, where the candidate's label carries another number of that kind, rules it
  out. A candidate named without a number ("The Terminator") is left to the ranker.
- **Places named nearby.** "Lisbon is a small town in New Hampshire": when the words around a mention
  name the state, county or city one of its place candidates lies in, its other place candidates are
  not meant. A neighbouring mention's place qualifies it too: "Atlanta ... Georgia" reads Atlanta's
  description, "... Georgia, United States", as the qualifier "United States" for "Georgia"
  (:mod:`glinker.rerank.nearby_places`).

A ruled-out candidate keeps its place in the output's ranked list, but is never the link; when every
candidate is ruled out the mention is NIL: the entity it names is not in the KB.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from glinker.kb import KnowledgeBase
from glinker.kb.normalize import normalize_alias
from glinker.rerank.nearby_places import NearbyPlaces
from glinker.types import Candidate, EntityRecord, Mention
from glinker.wikidata_classes import COUNTRIES, FIRST_LEVEL_DIVISIONS, HUMAN

# Words before a name that are no given name: titles, ranks, honorifics, offices.
TITLES = frozenset("""
mr mrs ms miss mx dr prof professor sir dame lady lord king queen prince princess pope saint st
president vice senator sen rep representative governor gov mayor general gen colonel col captain capt
lieutenant lt sergeant sgt admiral chancellor minister premier judge justice chief secretary ambassador
father sister brother rev reverend bishop cardinal rabbi imam sheikh emperor empress coach former late
first the young old uncle aunt mister madame monsieur herr frau don doña señor
""".split())

_WORD = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)
_QUALIFIER = re.compile(r"\s*,\s*((?:[A-Z][\w'’.-]*)(?:\s+(?:of\s+)?[A-Z][\w'’.-]*){0,3})")
_CAPITALISED_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’.-]*)*")


def _tokens(name: str) -> list[str]:
    return [normalize_alias(t).rstrip(".") for t in _WORD.findall(name)]


def _given_and_surname(mention: str) -> tuple[str, str] | None:
    """The (given name, surname) a mention reads as, titles dropped; ``None`` when it is not two or more
    capitalised words."""
    words = _WORD.findall(mention)
    if len(words) < 2 or not all(w[:1].isupper() for w in words):
        return None
    tokens = [normalize_alias(w).rstrip(".") for w in words]
    while tokens and tokens[0] in TITLES:
        tokens.pop(0)
    if len(tokens) < 2:
        return None
    return tokens[0], tokens[-1]


def _compatible_given(given: str, other: str) -> bool:
    """Whether two given names may be one person's: equal, or one is the other's initial."""
    return given == other or (len(given) == 1 and other.startswith(given)) or (len(other) == 1 and
                                                                              given.startswith(other))


def name_contradicts(mention_text: str, record: EntityRecord) -> bool:
    """True when ``mention_text`` is a person's full name that this person (a human) cannot bear: some
    name of the record has the mention's surname, and none with that surname has a compatible given name."""
    if HUMAN not in record.types:
        return False
    parts = _given_and_surname(mention_text)
    if parts is None:
        return False
    given, surname = parts
    same_surname = False
    givens = set()  # the given names and one-word nicknames the KB knows this person by ("Arnie")
    for name in (record.label, *record.aliases):
        if normalize_alias(name) == normalize_alias(mention_text):
            return False
        tokens = [t for t in _tokens(name) if t not in TITLES]
        if len(tokens) >= 2:
            givens.add(tokens[0])
            same_surname = same_surname or tokens[-1] == surname
        elif tokens and tokens[0] != surname:
            givens.add(tokens[0])
    return same_surname and not any(_compatible_given(given, g) for g in givens)


class PlaceIndex:
    """The countries and first-level divisions a text names, found by KB lookups of its capitalised runs."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._memo: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def named(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """(countries, divisions) that ``name`` itself names (the KB's most popular readings)."""
        key = normalize_alias(name)
        if key not in self._memo:
            countries, divisions = set(), set()
            for rec in self.kb.records_named(name, limit=3):
                types = set(rec.types)
                if types & COUNTRIES:
                    countries.add(rec.qid)
                elif types & FIRST_LEVEL_DIVISIONS:
                    divisions.add(rec.qid)
            self._memo[key] = (frozenset(countries), frozenset(divisions))
        return self._memo[key]

    def in_text(self, text: str) -> tuple[frozenset[str], frozenset[str]]:
        """(countries, divisions) named anywhere in ``text`` (a description)."""
        countries: set[str] = set()
        divisions: set[str] = set()
        for run in _CAPITALISED_RUN.findall(text):
            words = run.split()
            # every contiguous sub-run: "Bourbon County, Kentucky, United States" -> "United States", ...
            for i in range(len(words)):
                for j in range(i + 1, min(len(words), i + 4) + 1):
                    c, d = self.named(" ".join(words[i:j]).strip(",."))
                    countries |= c
                    divisions |= d
        return frozenset(countries), frozenset(divisions)


def qualifier_of(mention: Mention, context: str) -> str | None:
    """The capitalised words of a place qualifier: after ", " inside the mention ("Paris, Texas" as one
    span) or right after it ("Paris" followed by ", Texas"); ``None`` when there are none."""
    head, sep, tail = mention.text.rpartition(", ")
    if sep and head and _QUALIFIER.fullmatch(", " + tail):
        return tail.rstrip(".")
    if not 0 <= mention.end <= len(context):
        return None
    match = _QUALIFIER.match(context, mention.end)
    return match.group(1).rstrip(".") if match else None


def qualifier_contradicts(places: PlaceIndex, qualifier: str, record: EntityRecord, countries: bool = False) -> bool:
    """True when ``record`` is a place its description puts in another division or country than
    ``qualifier`` names (and the qualifier is a country or first-level division the KB knows).

    With ``countries``, also when ``record`` is a country that its description does not make part of the
    qualifier's country: for a qualifier read from a neighbour's description ("Georgia, United States"), never
    for one in the text itself, where "Latvia, Lithuania, Estonia" is a list and not a qualified name."""
    q_countries, q_divisions = places.named(qualifier)
    if not q_countries and not q_divisions:
        return False  # "Smith, Jr.", "Paris, 1919": not a place qualifier
    if normalize_alias(qualifier) in {normalize_alias(n) for n in (record.label, *record.aliases)}:
        return False
    if record.qid in q_countries or record.qid in q_divisions:
        return False
    if qualifier.lower() in record.description.lower():
        return False
    c_countries, c_divisions = places.in_text(record.description)
    if q_divisions:
        if c_divisions and not c_divisions & q_divisions:
            return True
        # the division's own country, as its description says ("state in the southern United States")
        q_countries = q_countries | frozenset().union(*(places.in_text(r.description)[0]
                                                        for r in places.kb.store.get_many(q_divisions).values()))
    if countries and q_countries and COUNTRIES.intersection(record.types) and not c_countries & q_countries:
        return True  # a country lies in no other country ("Georgia" qualified by "United States"), unless its
        # description says it is part of it (England, "part of the United Kingdom")
    return bool(q_countries and c_countries and not c_countries & q_countries)


# English plurals no suffix rule undoes.
IRREGULAR_PLURALS = {"men": "man", "women": "woman", "children": "child", "people": "person", "feet": "foot",
                     "teeth": "tooth", "mice": "mouse", "geese": "goose"}


def singular_forms(words: str) -> list[str]:
    """The singulars an English plural may stand for, its last word changed, most specific first ("years" ->
    "year"; "cities" -> "city"; "boxes" -> "box", "boxe"; "firemen" -> "fireman"); none for a word that cannot be a
    plural ("press", "bus")."""
    head, _, last = words.rpartition(" ")
    forms = []
    if last in IRREGULAR_PLURALS:
        forms.append(IRREGULAR_PLURALS[last])
    elif last.endswith("men") and len(last) > 4:
        forms.append(last[:-3] + "man")
    if last.endswith("ies") and len(last) > 4:
        forms.append(last[:-3] + "y")
    if last.endswith("es") and len(last) > 3:
        forms.append(last[:-2])
    if last.endswith("s") and not last.endswith(("ss", "us")) and len(last) > 3:
        forms.append(last[:-1])
    return [f"{head} {f}" if head else f for f in forms]


def common_noun_label(mention_text: str, records: Sequence[EntityRecord | None]) -> int | None:
    """The index of the one record whose label is ``mention_text``, or else its singular (:func:`singular_forms`:
    "years" -> "year"), when the text is a common noun (lower case, with a letter); ``None`` when it is not, or
    when no record or several have that label."""
    if mention_text != mention_text.lower() or not any(ch.isalpha() for ch in mention_text):
        return None
    for form in (mention_text, *singular_forms(mention_text)):
        same = [i for i, rec in enumerate(records) if rec is not None and rec.label == form]
        if same:
            return same[0] if len(same) == 1 else None
    return None


# Regnal and sequel numbers, I to XXXIX: larger numerals read as abbreviations far more often ("Baltimore, MD",
# "Washington DC", "Lansing, MI")
_ROMAN = re.compile(r"^(?=[XVI])X{0,3}(IX|IV|V?I{0,3})$")
_PUNCT = ".,;:!?()[]\"'’“”"


def name_numbers(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(Roman numerals, digit runs) among a name's words after the first: "Louis XIV" -> ({"XIV"}, {}),
    "Terminator 2: Judgment Day" -> ({}, {"2"}). The first word is left out: it is the name itself ("I, Robot",
    "1984", "2012 Summer Olympics")."""
    # whole words only, so "X-Men", "D.C." and "747-400" carry no number
    words = [w.strip(_PUNCT) for w in name.split()[1:]]
    return (frozenset(w for w in words if _ROMAN.match(w)),
            frozenset(w.lstrip("0") or "0" for w in words if w.isdigit()))


def number_contradicts(mention_text: str, record: EntityRecord) -> bool:
    """True when the mention's regnal or sequel number (:func:`name_numbers`) is one no name of the record carries,
    while the record's label carries another number of the same kind: "Leopold III" against "Leopold II of
    Belgium"."""
    roman, digits = name_numbers(mention_text)
    if not roman and not digits:
        return False
    label_roman, label_digits = name_numbers(record.label)
    if not ((roman and label_roman) or (digits and label_digits)):
        return False  # the label has no number of the mention's kind to contradict it
    for name in (record.label, *record.aliases):
        other_roman, other_digits = name_numbers(name)
        if roman & other_roman or digits & other_digits:
            return False
    return True


class Compatibility:
    """Which candidates a mention's words rule out (module docstring): names, numbers, place qualifiers, common
    nouns and, with ``nearby_chars``, places the text within that many characters of the mention names (``None``:
    not checked)."""

    def __init__(self, kb: KnowledgeBase, names: bool = True, qualifiers: bool = True,
                 nearby_chars: int | None = 400, common_nouns: bool = True, numbers: bool = True) -> None:
        self.kb = kb
        self.names = bool(names)
        self.numbers = bool(numbers)
        self.qualifiers = bool(qualifiers)
        self.common_nouns = bool(common_nouns)
        self.places = PlaceIndex(kb)
        self.nearby = NearbyPlaces(kb, nearby_chars) if nearby_chars else None

    def ruled_out(self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]],
                  contexts: Sequence[str], records: dict[str, EntityRecord]) -> list[list[bool]]:
        """Per mention and candidate: True when the candidate cannot be what the mention names."""
        out = []
        starts = _starts_by_context(mentions, contexts) if self.nearby is not None else {}
        for k, (m, cands, ctx) in enumerate(zip(mentions, candidates, contexts)):
            flags = [False] * len(cands)
            qualifier = qualifier_of(m, ctx) if self.qualifiers else None
            from_neighbour = False
            if qualifier is None and self.qualifiers and self.nearby is not None and cands:
                qualifier = self.nearby.neighbour_qualifier(m.text, self._neighbours(k, mentions, contexts, starts))
                from_neighbour = qualifier is not None
            for i, c in enumerate(cands):
                rec = records.get(c.qid)
                if rec is None:
                    continue
                if self.names and name_contradicts(m.text, rec):
                    flags[i] = True
                elif self.numbers and number_contradicts(m.text, rec):
                    flags[i] = True
                elif qualifier and qualifier_contradicts(self.places, qualifier, rec, countries=from_neighbour):
                    flags[i] = True
            if self.common_nouns and len(cands) > 1:
                label = common_noun_label(m.text, [records.get(c.qid) for c in cands])
                if label is not None and not flags[label]:
                    flags = [f or i != label for i, f in enumerate(flags)]
            if self.nearby is not None and len(cands) > 1:
                nearby = self.nearby.ruled_out(m.start, m.end, ctx, [records.get(c.qid) for c in cands])
                flags = [a or b for a, b in zip(flags, nearby)]
            out.append(flags)
        return out

    def _neighbours(self, k: int, mentions: Sequence[Mention], contexts: Sequence[str],
                    starts: dict[int, tuple[list[int], list[int]]]) -> list[str]:
        """The texts of the other mentions of mention ``k``'s context that start within the nearby window (a
        bisection in that context's sorted starts: bounded work per mention in a long text)."""
        m, reach = mentions[k], self.nearby.window_chars
        keys, order = starts[id(contexts[k])]
        lo, hi = bisect_left(keys, m.start - reach), bisect_right(keys, m.start + reach)
        return [mentions[j].text for j in order[lo:hi] if j != k]


def _starts_by_context(mentions: Sequence[Mention], contexts: Sequence[str]) -> dict[int, tuple[list[int], list[int]]]:
    """Per context (by identity: the pipeline gives every mention of a text the same string), its mentions' starts
    in order and the mention indices in that order."""
    groups: dict[int, list[int]] = {}
    for k, ctx in enumerate(contexts):
        groups.setdefault(id(ctx), []).append(k)
    out = {}
    for key, ks in groups.items():
        ks.sort(key=lambda j: mentions[j].start)
        out[key] = ([mentions[j].start for j in ks], ks)
    return out
