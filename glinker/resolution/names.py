"""A short form of a person's name linked to the full name said before it: "Arnold Schwarzenegger ...
Schwarzenegger" -> the same person.

Writers name a person in full once and then by surname ("Neil Jordan ... Jordan said"), or in informal text by
given name. The short form alone is ambiguous (the KB rarely holds "Jordan" as an alias of the film director,
and "Jordan" is a country too), but the text has already said whom it means. Over the shared benchmarks' gold
mentions, a one- or two-word name that ends (or, for one word, starts) the words of an earlier mention of a
person is that same person in 104 of 107 cases (``benchmarks/short_names.py``). Of the other three, two are gold
left NIL for the same man and one follows a title rather than a name ("President Bush"); an antecedent whose
first word is lower case ("the Prime Minister") is no name and is skipped.

Only mentions linked to a person (P31 human) are antecedents, and only within ``window_chars`` before the
short form, so the cost per mention stays bounded and a paragraph links the same way alone and inside a long
document. The closest antecedent wins: "Jane Fonda ... Henry Fonda ... Fonda" is Henry.

:func:`name_antecedents` is the rule on plain spans; :class:`NameResolver` applies it to link decisions and
:mod:`glinker.rerank.rescoring` to refitted rankers' links, so that leave-one-out figures are the pipeline's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from glinker.types import Candidate, EntityRecord, LinkDecision, Mention
from glinker.wikidata_classes import HUMAN

_POSSESSIVE = re.compile(r"['\u2019]s?$")
# how many words a short form may have: "Schwarzenegger", "van Gogh"; longer ones are names of their own
MAX_SHORT_WORDS = 2


def name_words(text: str) -> tuple[str, ...]:
    """The words of a name, lower-cased, without a trailing possessive ("Jordan's" -> ("jordan",))."""
    words = text.split()
    if words:
        words[-1] = _POSSESSIVE.sub("", words[-1])
    return tuple(w.lower() for w in words if w)


def is_short_form(short: str, full: str) -> bool:
    """True when ``short`` names the person ``full`` names by fewer of its words: its last one or two
    words (a surname: "Cameron", "van Gogh") or its first word (a given name: "Arnold").

    The full name begins with a capital letter and the short form's last word does ("van Gogh"): "he" or "the
    Prime Minister" is no name."""
    words = short.split()
    if not words or not words[-1][:1].isupper() or not full[:1].isupper():
        return False
    s, f = name_words(short), name_words(full)
    if not s or len(s) > MAX_SHORT_WORDS or len(s) >= len(f):
        return False
    return f[-len(s):] == s or (len(s) == 1 and f[0] == s[0])


def name_antecedents(spans: Sequence[tuple[int, int, str]], linked: Sequence[str | None],
                     is_person: Callable[[str], bool], window_chars: int, first: int = 0) -> list[int | None]:
    """Per span, the index of the span whose person it names by a short form, or ``None``.

    ``spans``: (start, end, text) of one document's mentions (any order); ``linked``: each span's entity (``None``:
    NIL). Spans before ``first`` are antecedents only. An antecedent is a linked person span of more words that
    ends at or before the short form's start, at most ``window_chars`` before it; the closest one wins. Resolved
    spans are not antecedents of others (their own words were the short form).
    """
    out: list[int | None] = [None] * len(spans)
    window = max(int(window_chars), 0)
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    for pos, i in enumerate(order):
        start, _, text = spans[i]
        if i < first or not 0 < len(name_words(text)) <= MAX_SHORT_WORDS:
            continue
        for back in range(pos - 1, -1, -1):  # closest first; the window bounds the walk
            j = order[back]
            _, a_end, a_text = spans[j]
            if start - a_end > window:
                break
            if a_end > start or out[j] is not None or not linked[j] or not is_person(linked[j]):
                continue
            if is_short_form(text, a_text):
                out[i] = j
                break
    return out


class NameResolver:
    """Links a short form of a person's name to the person an earlier mention names in full.

    Args:
        kb: The opened knowledge base (entity types tell persons from the rest).
        person_types: P31 classes that make an entity a person.
        window_chars: How far back (characters from the short form's start) the full name may be.
    """

    def __init__(self, kb, person_types: Sequence[str] = (HUMAN,), window_chars: int = 4000) -> None:
        self.kb = kb
        self.person_types = frozenset(person_types)
        self.window_chars = int(window_chars)

    def resolve(self, mentions: Sequence[Mention], decisions: Sequence[LinkDecision],
                preceding: Sequence[tuple[Mention, LinkDecision]] = ()) -> list[LinkDecision]:
        """New decisions for one document's mentions: a short form takes its full name's entity and link score.

        Same contract as :meth:`glinker.resolution.coref.PronounResolver.resolve`: ``preceding`` are earlier
        mentions of the same document (antecedents only); a resolved mention's ranked list starts with the
        antecedent's entity.
        """
        out = list(decisions)
        every = [*preceding, *zip(mentions, decisions)]
        first = len(preceding)
        if not any(len(name_words(m.text)) <= MAX_SHORT_WORDS for m in mentions):
            return out
        linked = {d.qid for _, d in every if d.qid}
        records: dict[str, EntityRecord] = self.kb.store.get_many(linked) if linked else {}
        persons = {q for q, r in records.items() if self.person_types.intersection(r.types)}
        found = name_antecedents([(m.start, m.end, m.text) for m, _ in every], [d.qid for _, d in every],
                                 persons.__contains__, self.window_chars, first)
        for i, j in enumerate(found):
            if j is None:
                continue
            d = every[j][1]
            own = out[i - first]
            if own.qid == d.qid:
                continue
            cand = Candidate(d.qid, d.link_score, sources=("coref",))
            out[i - first] = LinkDecision(d.qid, d.link_score, ((cand, d.link_score),) + tuple(
                (c, s) for c, s in own.ranked if c.qid != d.qid))
        return out
