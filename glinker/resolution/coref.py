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

from collections.abc import Mapping, Sequence

from glinker.types import Candidate, EntityRecord, LinkDecision, Mention
from glinker.wikidata_classes import HUMAN

PERSON_PRONOUNS = frozenset({"he", "him", "his", "himself", "she", "her", "hers", "herself"})
THING_PRONOUNS = frozenset({"it", "its", "itself"})
# every English personal pronoun: mentions with no name of their own
PRONOUNS = PERSON_PRONOUNS | THING_PRONOUNS | frozenset({
    "i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "they", "them", "their", "theirs", "themselves", "one", "oneself"})


def is_pronoun(text: str) -> bool:
    """True for a personal pronoun of any person or number ("he", "their", "I")."""
    return text.strip().lower() in PRONOUNS


def pronoun_kind(text: str) -> str | None:
    """``"person"``, ``"thing"`` or ``None`` (not a third-person singular pronoun)."""
    low = text.strip().lower()
    if low in PERSON_PRONOUNS:
        return "person"
    if low in THING_PRONOUNS:
        return "thing"
    return None


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
