"""Third-person pronouns linked to their antecedent: "Merkel said she ..." -> she = Angela Merkel.

ELEVANT's "fair" benchmarks (news-fair, wiki-fair) annotate coreferent pronouns with the
entity they refer to. A pronoun has no name to retrieve candidates by, so it is linked by
recency instead, as ELEVANT's own rule-based coreference does: "he"/"she" and their forms take
the entity of the closest preceding linked mention of a person (P31 human), "it"/"its" that of
the closest preceding linked mention of anything else, within ``window_chars``. The KB holds no
grammatical gender, so "he" and "she" are not told apart. First- and second-person pronouns
("I", "you") and plural ones ("they") are left alone: the speaker or the group is rarely a
linked mention.

The detector does not propose pronouns, so end to end this acts only on pronoun spans a
detector does return; with gold spans (ED) it resolves every annotated pronoun.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from glinker.types import Candidate, EntityRecord, LinkDecision, Mention
from glinker.wikidata_classes import HUMAN

PERSON_PRONOUNS = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})
THING_PRONOUNS = frozenset({"it", "its", "itself"})
# every English personal pronoun: mentions with no name of their own
PRONOUNS = PERSON_PRONOUNS | THING_PRONOUNS | frozenset({
    "i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "they", "them", "their", "theirs", "themselves", "one", "oneself"})


def _capitals(text: str) -> bool:
    # "US", "ME", "IT" in running text are the United States, Maine, information technology: a word of two or
    # more letters written in capitals is an abbreviation, not a pronoun ("I" is one letter)
    return len(text) > 1 and text.isupper()


def is_pronoun(text: str) -> bool:
    """True for a personal pronoun of any person or number ("he", "their", "I"; not "US" or "IT")."""
    text = text.strip()
    return text.lower() in PRONOUNS and not _capitals(text)


def pronoun_kind(text: str) -> str | None:
    """``"person"``, ``"thing"`` or ``None`` (not a third-person singular pronoun)."""
    text = text.strip()
    if _capitals(text):
        return None
    low = text.lower()
    if low in PERSON_PRONOUNS:
        return "person"
    if low in THING_PRONOUNS:
        return "thing"
    return None


def pronoun_antecedents(spans: Sequence[tuple[int, int, str]], linked: Sequence[str | None],
                        is_person: Callable[[str], bool], window_chars: int, first: int = 0) -> list[int | None]:
    """Per span, the index of the span whose entity its pronoun refers to, or ``None``.

    ``spans``: (start, end, text) of one document's mentions (any order); ``linked``: each span's entity (``None``:
    NIL or unknown to the KB). Spans before ``first`` are antecedents only. "he"/"she" and their forms take the
    closest linked person span that ends at or before the pronoun, at most ``window_chars`` before it; "it"/"its"
    the closest linked span of anything else. Pronouns are never antecedents.
    """
    out: list[int | None] = [None] * len(spans)
    window = max(int(window_chars), 0)
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    for pos, i in enumerate(order):
        kind = pronoun_kind(spans[i][2])
        if kind is None or i < first:
            continue
        start = spans[i][0]
        for back in range(pos - 1, -1, -1):  # closest first; the window bounds the walk
            j = order[back]
            _, a_end, a_text = spans[j]
            if start - a_end > window:
                break
            if pronoun_kind(a_text) or not linked[j] or a_end > start:
                continue
            if is_person(linked[j]) == (kind == "person"):
                out[i] = j
                break
    return out


class PronounResolver:
    """Links pronoun mentions to the closest preceding linked mention of a compatible kind.

    Args:
        kb: The opened knowledge base (entity types tell persons from the rest).
        person_types: P31 classes that make an entity a person.
        window_chars: How far back (characters from the pronoun's start) an antecedent may be.
    """

    def __init__(self, kb, person_types: Sequence[str] = (HUMAN,), window_chars: int = 1000) -> None:
        self.kb = kb
        self.person_types = frozenset(person_types)
        self.window_chars = int(window_chars)

    def resolve(self, mentions: Sequence[Mention], decisions: Sequence[LinkDecision],
                preceding: Sequence[tuple[Mention, LinkDecision]] = ()) -> list[LinkDecision]:
        """New decisions for one document's mentions (any order): pronouns take their antecedent's entity.

        A resolved pronoun's ranked list starts with the antecedent's entity; a pronoun with
        no antecedent keeps its own decision. ``preceding``: (mention, decision) pairs of the same
        document before these mentions (same offsets; :class:`glinker.pipeline.Pipeline` passes those
        of the previous segments within ``window_chars``): antecedents too, never resolved here.
        """
        out = list(decisions)
        if not any(pronoun_kind(m.text) for m in mentions):
            return out
        every = [*preceding, *zip(mentions, decisions)]
        first = len(preceding)  # positions from here on are this call's mentions
        linked = {d.qid for m, d in every if d.qid and not pronoun_kind(m.text)}
        records: Mapping[str, EntityRecord] = self.kb.store.get_many(linked) if linked else {}
        persons = {q for q, r in records.items() if self.person_types.intersection(r.types)}
        found = pronoun_antecedents([(m.start, m.end, m.text) for m, _ in every],
                                    [d.qid if d.qid in records else None for _, d in every],
                                    persons.__contains__, self.window_chars, first)
        for i, j in enumerate(found):
            if j is not None:
                d = every[j][1]
                cand = Candidate(d.qid, d.link_score, sources=("coref",))
                out[i - first] = LinkDecision(d.qid, d.link_score, ((cand, d.link_score),) + tuple(
                    (c, s) for c, s in decisions[i - first].ranked if c.qid != d.qid))
        return out
        every = [*preceding, *zip(mentions, decisions)]
        first = len(preceding)  # positions from here on are this call's mentions
        linked = {d.qid for m, d in every if d.qid and not pronoun_kind(m.text)}
        records: Mapping[str, EntityRecord] = self.kb.store.get_many(linked) if linked else {}
        order = sorted(range(len(every)), key=lambda i: (every[i][0].start, every[i][0].end))
        for pos, i in enumerate(order):
            kind = pronoun_kind(every[i][0].text)
            if kind is None or i < first:
                continue
            start = every[i][0].start
            for back in range(pos - 1, -1, -1):  # closest first; stops at the window, so bounded per pronoun
                m, d = every[order[back]]
                if start - m.end > self.window_chars:
                    break
                if pronoun_kind(m.text) or not d.qid or d.qid not in records or m.end > start:
                    continue
                is_person = bool(self.person_types.intersection(records[d.qid].types))
                if is_person == (kind == "person"):
                    cand = Candidate(d.qid, d.link_score, sources=("coref",))
                    out[i - first] = LinkDecision(d.qid, d.link_score, ((cand, d.link_score),) + tuple(
                        (c, s) for c, s in decisions[i - first].ranked if c.qid != d.qid))
                    break
        return out
