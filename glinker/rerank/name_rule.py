"""The short-name rule (:mod:`glinker.resolution.names`) applied to kept links, as the pipeline applies it after
the ranker: leave-one-out and in-sample figures from kept features then equal what the pipeline links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from glinker.resolution.names import NameResolver, name_antecedents

# one kept gold span's place: (document index, start, end, text)
SpanPlace = tuple[int, int, int, str]


@dataclass(frozen=True)
class NameRule:
    """Which entities are persons and how far back a full name may be.

    Attributes:
        persons: QIDs of persons (P31 human) among the entities the kept links can name.
        window_chars: The look-back of :class:`glinker.resolution.names.NameResolver`.
    """

    persons: frozenset[str]
    window_chars: int

    @classmethod
    def of_pipeline(cls, pipeline, qids: Iterable[str]) -> NameRule | None:
        """The rule as ``pipeline`` applies it (its resolver chain holds a :class:`NameResolver`), with the persons
        among ``qids``; ``None`` when the pipeline does not resolve short names."""
        coref = pipeline.coref
        found = [r for r in getattr(coref, "resolvers", [coref]) if isinstance(r, NameResolver)]
        if not found:
            return None
        resolver = found[0]
        records = pipeline.kb.store.get_many(set(qids))
        persons = frozenset(q for q, r in records.items() if resolver.person_types.intersection(r.types))
        return cls(persons, resolver.window_chars)

    def picks(self, where: Sequence[SpanPlace], picks: Sequence[str | None]) -> list[str | None]:
        """ED's picks (one per kept gold span, placed by ``where``) after the rule: a short form takes the pick of
        the full name before it in the same document."""
        out = list(picks)
        by_doc: dict[int, list[int]] = defaultdict(list)
        for k, (doc, *_) in enumerate(where):
            by_doc[doc].append(k)
        for ks in by_doc.values():
            found = name_antecedents([where[k][1:] for k in ks], [picks[k] for k in ks], self.persons.__contains__,
                                     self.window_chars)
            for i, j in enumerate(found):
                if j is not None:
                    out[ks[i]] = picks[ks[j]]
        return out

    def records(self, traced, records: Sequence[Sequence[tuple]], threshold: float) -> list[list[tuple]]:
        """e2e records ``(start, end, qid, link score, mention score)`` after the rule: the full name must be
        linked (score at least ``threshold``); the short form takes its entity and score."""
        out = []
        for doc, recs in zip(traced, records):
            linked = [q if q is not None and p >= threshold else None for _, _, q, p, _ in recs]
            found = name_antecedents([(m.start, m.end, m.text) for m in doc], linked, self.persons.__contains__,
                                     self.window_chars)
            new = list(recs)
            for i, j in enumerate(found):
                if j is not None:
                    s, e, _, _, ms = recs[i]
                    new[i] = (s, e, recs[j][2], recs[j][3], ms)
            out.append(new)
        return out
