"""The span rules: each grows or merges detected mentions where the KB spells the longer name."""

from __future__ import annotations

from collections.abc import Sequence

from glinker.kb import KnowledgeBase
from glinker.surface import name_continuations, sentence_start
from glinker.types import Mention
from glinker.wikidata_classes import COUNTRIES, FIRST_LEVEL_DIVISIONS


def _ordered(mentions: Sequence[Mention]) -> list[Mention]:
    return sorted(mentions, key=lambda m: (m.start, m.end))


def kb_spells(kb: KnowledgeBase, text: str, name: str) -> bool:
    """True when ``name`` is verbatim the label or an alias of an entity the alias table finds for ``text``."""
    records = kb.records_named(text, limit=8)
    return any(name == r.label or name in r.aliases for r in records)


class NameExtension:
    """A mention followed by capitalised words ("Cuban" + " Missile Crisis", "Warsaw" + " Pact") grows to
    the longest such run of up to four words that is, as a whole, a KB label or alias; mentions inside the
    grown span are absorbed. The detector often scores the first word of a long name higher than the name.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def refine(self, text: str, mentions: Sequence[Mention]) -> list[Mention]:
        """Mentions grown over following capitalised words into a KB name."""
        ordered = _ordered(mentions)
        out: list[Mention] = []
        i = 0
        while i < len(ordered):
            m = ordered[i]
            i += 1
            for end in reversed(name_continuations(text, m.end)):
                # a later mention may be swallowed whole, never cut
                if any(n.start < end < n.end for n in ordered[i:]):
                    continue
                name = text[m.start : end]
                if self.kb.store.lookup_alias(name, limit=1):
                    # the first words name the entity: their type and span vector stand for the whole
                    m = Mention(m.start, end, name, m.label, m.score, m.vector)
                    while i < len(ordered) and ordered[i].end <= end:
                        i += 1
                    break
            out.append(m)
        return out


class CommaNames:
    """Two mentions separated only by ", " ("Madison" ", " "Wisconsin") become one mention of the first
    when the joined text is a KB label or alias: Wikidata names many places "City, State".

    With ``place_qualifiers`` (a benchmark convention: OKE, wiki-fair and news-fair annotate it, msnbc
    does not) also a place and the first-level division written out after it ("Muscatine, Iowa"), and a
    division and its country ("Queensland, Australia"), when the KB does not spell the pair; abbreviated
    ("Vail, Colo.") and all-caps dateline qualifiers never join.
    """

    def __init__(self, kb: KnowledgeBase, place_qualifiers: bool = False) -> None:
        self.kb = kb
        self.place_qualifiers = bool(place_qualifiers)

    def refine(self, text: str, mentions: Sequence[Mention]) -> list[Mention]:
        """Mentions with "X, Y" pairs merged where the rule applies."""
        out: list[Mention] = []
        i = 0
        ordered = _ordered(mentions)
        while i < len(ordered):
            m = ordered[i]
            if i + 1 < len(ordered):
                n = ordered[i + 1]
                if text[m.end : n.start] == ", " and (
                        self.kb.store.lookup_alias(text[m.start : n.end], limit=1)
                        or (self.place_qualifiers and self._place_qualified(m.text, n.text))):
                    # the first part names the entity ("Madison"): its type and span vector stand for the whole
                    out.append(Mention(m.start, n.end, text[m.start : n.end], m.label, max(m.score, n.score),
                                       m.vector))
                    i += 2
                    continue
            out.append(m)
            i += 1
        return out

    def _place_qualified(self, head: str, tail: str) -> bool:
        """Whether "head, tail" names the head place: a town and its state or province written out,
        or a state and its country."""
        if "." in tail or tail.isupper() or not head[:1].isupper():
            return False  # "Vail, Colo.", "TUSCALOOSA, ALA.": news datelines, annotated as two places
        head_types = [frozenset(r.types) for r in self.kb.records_named(head, limit=4)]
        tail_types = [frozenset(r.types) for r in self.kb.records_named(tail, limit=4)]
        if not tail_types:
            return False
        head_is_division = any(t & FIRST_LEVEL_DIVISIONS for t in head_types)
        if tail_types[0] & FIRST_LEVEL_DIVISIONS:
            # "Iowa, Nebraska", "Latvia, Lithuania" are lists, not a place and its qualifier
            return not head_is_division and not any(t & COUNTRIES for t in head_types)
        return bool(tail_types[0] & COUNTRIES) and head_is_division


class PlaceQualifiers(CommaNames):
    """:class:`CommaNames` with place qualifiers joined (the benchmark convention)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        super().__init__(kb, place_qualifiers=True)


class AbbreviationDots:
    """A mention directly followed by "." takes the period in when the dotted form is, verbatim, a label or
    alias of an entity the KB finds for it ("Calif" -> "Calif.", "U.S" -> "U.S."; "Iraq" at a sentence end
    stays "Iraq"). The detector's word splitting makes "." a word of its own."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def refine(self, text: str, mentions: Sequence[Mention]) -> list[Mention]:
        """Mentions with the following period taken in where the KB spells the dotted form."""
        out = []
        for m in mentions:
            dotted = text[m.start : m.end + 1]
            if text[m.end : m.end + 1] == "." and not m.text.endswith(".") and kb_spells(self.kb, m.text, dotted):
                m = Mention(m.start, m.end + 1, dotted, m.label, m.score, m.vector)
            out.append(m)
        return out


# Words English writes in lower case mid-sentence unless they open a title ("starred in On Golden Pond",
# "read Of Mice and Men"): a capitalised one right before a mention marks it as the title's first word.
TITLE_OPENERS = frozenset({"the", "a", "an", "on", "of", "in", "at", "to", "for", "from", "with", "by", "into",
                           "under", "over", "before", "after", "and", "or", "my", "your", "his", "her", "our",
                           "their", "its", "this", "that", "these", "those", "some", "all", "no", "one"})


class ArticleNames:
    """A mention preceded mid-sentence by a capitalised article or other function word ("The", "On", "Of") takes
    it in when that word + the mention is a KB label or alias, case aside ("starred in The Terminator" -> the film
    "The Terminator", "Utrecht, The Netherlands", "won for On Golden Pond"): mid-sentence,
    the capital marks the word as part of a name. A sentence-initial or lower-case word stays outside, and so does
    a capitalised word of any other kind ("Governor Schwarzenegger": a title before a name is not the name).

    Args:
        kb: The KB whose labels and aliases confirm the longer name.
        words: The lower-cased words that may open a name (default :data:`TITLE_OPENERS`).
    """

    def __init__(self, kb: KnowledgeBase, words: Sequence[str] = TITLE_OPENERS) -> None:
        self.kb = kb
        self.words = frozenset(w.lower() for w in words)

    def refine(self, text: str, mentions: Sequence[Mention]) -> list[Mention]:
        """Mentions with a mid-sentence capitalised opening word taken in where the KB spells it."""
        out = []
        taken = [(m.start, m.end) for m in mentions]
        for m in mentions:
            lo = m.start - 1
            if lo > 0 and text[lo] == " ":
                word_start = lo
                while word_start > 0 and text[word_start - 1].isalpha():
                    word_start -= 1
                word = text[word_start:lo]
                if (word[:1].isupper() and word.lower() in self.words and not sentence_start(text, word_start)
                        and not any(s < lo and e > word_start for s, e in taken)):
                    named = text[word_start : m.end]
                    if self.kb.store.lookup_alias(named, limit=1):
                        m = Mention(word_start, m.end, named, m.label, m.score, m.vector)
            out.append(m)
        return out
