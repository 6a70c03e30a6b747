"""Other surface forms of a mention that is no KB name: the town of "Thessaloniki, Greece", "UN" for "U.N.".

Benchmarks such as OKE, wiki-fair and ISTEX annotate "Town, State" as one mention of the town.
Wikidata spells only some of these as aliases ("Madison, Wisconsin"); for the others
("Southborough, Massachusetts", "Lille, France") exact alias lookup finds nothing and every
string feature compares the whole phrase, so the qualifier — a well-known country or state —
outscores the town. When the part after the comma is a place the KB knows, the part before it
is the name to match. Likewise a dotted acronym the KB does not spell ("U.N.": Wikidata has
"UN") is the undotted one; alias normalisation keeps inner dots, so only "U.S.", spelled both
ways, was found.
"""

from __future__ import annotations

import re

from glinker.wikidata_classes import QUALIFIER_TYPES

_QUALIFIERS = frozenset(QUALIFIER_TYPES)
_DOTTED = re.compile(r"^(?:[A-Za-z]\.){2,}[A-Za-z]?\.?$")


def comma_head(store, text: str) -> str | None:
    """``"A"`` for a mention ``"A, B"`` whose qualifier ``B`` is a KB place; ``None`` otherwise.

    ``None`` also when the whole text is itself a KB name ("Paris, Texas" is an alias of the
    town: alias lookup already finds it) or ``A`` is not capitalised.

    Args:
        store: The KB's :class:`~glinker.kb.store.LmdbEntityStore` (anything with
            ``lookup_alias`` and ``get_many``).
        text: The mention text.
    """
    head, sep, tail = text.partition(", ")
    head, tail = head.strip(), tail.strip()
    if not sep or not head[:1].isupper() or not tail[:1].isupper() or ", " in tail:
        return None
    if store.lookup_alias(text, limit=1):
        return None
    places = store.lookup_alias(tail, limit=8)
    records = store.get_many(places) if places else {}
    if any(_QUALIFIERS.intersection(r.types) for r in records.values()):
        return head
    return None


def undotted(store, text: str) -> str | None:
    """``"UN"`` for ``"U.N."`` when the dotted form is no KB name and the undotted one is; else ``None``."""
    if not _DOTTED.match(text) or store.lookup_alias(text, limit=1):
        return None
    plain = text.replace(".", "")
    return plain if store.lookup_alias(plain, limit=1) else None


def other_name(store, text: str) -> str | None:
    """The name to match instead of ``text`` (:func:`comma_head`, :func:`undotted`), or ``None``."""
    if ", " in text:
        return comma_head(store, text)
    if "." in text:
        return undotted(store, text)
    return None


def sentence_start(text: str, i: int) -> bool:
    """True when ``text[i]`` starts the text, a line or a sentence (after ". ", "! ", "? ", quotes)."""
    j = i - 1
    while j >= 0 and text[j] in " \t\"'“‘(":
        j -= 1
    return j < 0 or text[j] in ".!?\n:;"


# Lower-case words that may sit inside a name ("Bank of America", "Trinity and All Saints").
NAME_CONNECTORS = frozenset({"of", "the", "and", "for", "de", "du", "des", "la", "le", "von", "van", "der", "den",
                             "di", "da", "del", "y", "&", "on", "upon", "in", "at"})
_NEXT_WORD = re.compile(r" ([\w&][\w'’.&-]*)")


def name_continuations(text: str, end: int, max_words: int = 4) -> list[int]:
    """Ends of the capitalised word runs that continue a name ending at ``end``, shortest first.

    Words are taken while each is capitalised (or a digit run: "Apollo 11") or a name connector
    ("of", "the"); a run may end only on a capitalised word or digits. Words are separated by one
    space, so a run stops at punctuation, line breaks and sentence ends.
    """
    ends: list[int] = []
    pos = end
    for _ in range(max_words):
        m = _NEXT_WORD.match(text, pos)
        if not m:
            break
        raw = m.group(1)
        # one final period ends the sentence ("... Pact."); dotted abbreviations ("U.S.") keep theirs
        sentence_end = raw.endswith(".") and raw.count(".") == 1
        word = raw[:-1] if sentence_end else raw
        if word[:1].isupper() or word.isdigit():
            pos = m.start(1) + len(word)
            ends.append(pos)
            if sentence_end:
                break
        elif word in NAME_CONNECTORS:
            pos = m.end(1)
        else:
            break
    return ends
