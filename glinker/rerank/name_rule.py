"""The resolvers the pipeline applies after the ranker (:mod:`glinker.resolution`: a short name takes the person
its full name was linked to, then a pronoun its antecedent's entity) applied to kept links the same way:
leave-one-out and in-sample figures from kept features then equal what the pipeline links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from glinker.resolution.coref import PronounResolver, pronoun_antecedents
from glinker.resolution.names import NameResolver, name_antecedents

# one kept gold span's place: (document index, start, end, text)
SpanPlace = tuple[int, int, int, str]


@dataclass(frozen=True)
class NameRule:
    """Which entities are persons and how far back each resolver looks.

    Attributes:
        persons: QIDs of persons (P31 human) among the entities the kept links can name.
        window_chars: The look-back of :class:`glinker.resolution.names.NameResolver`; ``None``: short names are
            not resolved.
        pronoun_window_chars: The look-back of :class:`glinker.resolution.coref.PronounResolver`; ``None``:
            pronouns are not resolved.
    """

    persons: frozenset[str]
    window_chars: int | None
    pronoun_window_chars: int | None = None

    @classmethod
    def of_pipeline(cls, pipeline, qids: Iterable[str]) -> NameRule | None:
        """The rule as ``pipeline`` applies it (its resolver chain holds a :class:`NameResolver`, a
        :class:`PronounResolver` or both), with the persons among ``qids``; ``None`` when it resolves neither."""
        coref = pipeline.coref
        chain = getattr(coref, "resolvers", [coref])
        names = next((r for r in chain if isinstance(r, NameResolver)), None)
        pronouns = next((r for r in chain if isinstance(r, PronounResolver)), None)
        if names is None and pronouns is None:
            return None
        person_types = frozenset().union(*(r.person_types for r in (names, pronouns) if r is not None))
        records = pipeline.kb.store.get_many(set(qids))
        persons = frozenset(q for q, r in records.items() if person_types.intersection(r.types))
        return cls(persons, None if names is None else names.window_chars,
                   None if pronouns is None else pronouns.window_chars)

    def _resolvers(self) -> Iterable[tuple[Callable, int]]:
        """(antecedent finder, look-back) in the pipeline's order: short names, then pronouns."""
        if self.window_chars is not None:
            yield name_antecedents, self.window_chars
        if self.pronoun_window_chars is not None:
            yield pronoun_antecedents, self.pronoun_window_chars

    def picks(self, where: Sequence[SpanPlace], picks: Sequence[str | None]) -> list[str | None]:
        """ED's picks (one per kept gold span, placed by ``where``) after the rule: a short form takes the pick of
        the full name before it in the same document, then a pronoun that of its antecedent."""
        out = list(picks)
        by_doc: dict[int, list[int]] = defaultdict(list)
        for k, (doc, *_) in enumerate(where):
            by_doc[doc].append(k)
        for ks in by_doc.values():
            spans = [where[k][1:] for k in ks]
            for find, window in self._resolvers():
                now = [out[k] for k in ks]
                for i, j in enumerate(find(spans, now, self.persons.__contains__, window)):
                    if j is not None:
                        out[ks[i]] = now[j]
        return out

    def records(self, traced, records: Sequence[Sequence[tuple]], threshold: float) -> list[list[tuple]]:
        """e2e records ``(start, end, qid, link score, mention score)`` after the rule: the antecedent must be
        linked (score at least ``threshold``); the short form, then the pronoun, takes its entity and score."""
        out = []
        for doc, recs in zip(traced, records):
            spans = [(m.start, m.end, m.text) for m in doc]
            new = list(recs)
            for find, window in self._resolvers():
                linked = [q if q is not None and p >= threshold else None for _, _, q, p, _ in new]
                now = list(new)
                for i, j in enumerate(find(spans, linked, self.persons.__contains__, window)):
                    if j is not None:
                        s, e, _, _, ms = now[i]
                        new[i] = (s, e, now[j][2], now[j][3], ms)
            out.append(new)
        return out
