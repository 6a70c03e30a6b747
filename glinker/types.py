"""Typed records that flow between pipeline stages.

Character offsets are start-inclusive, end-exclusive. NIL is explicit: a
:class:`LinkedMention` whose ``qid`` is ``None`` was detected but not linked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EntityRecord:
    """One knowledge-base entity as stored in the LMDB entity store.

    Attributes:
        qid: Wikidata id (``Q42``, ``P31``).
        label: Label in the first configured language that has one.
        description: Description in the first configured language that has one, or "".
        aliases: Other names (all configured languages), without the label.
        types: P31 (instance of) targets.
        superclasses: P279 (subclass of) targets.
        sitelinks: Number of sitelinks in the dump (0 when the dump has none).
        popularity: Popularity prior from a popularity table, else derived from sitelinks.
        row: Row of this entity in the FAISS index and embedding matrix (-1 if none).
    """

    qid: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    superclasses: tuple[str, ...] = ()
    sitelinks: int = 0
    popularity: float = 0.0
    row: int = -1

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the record."""
        return {
            "qid": self.qid,
            "label": self.label,
            "description": self.description,
            "aliases": list(self.aliases),
            "types": list(self.types),
            "superclasses": list(self.superclasses),
            "sitelinks": self.sitelinks,
            "popularity": self.popularity,
            "row": self.row,
        }


@dataclass(frozen=True)
class Mention:
    """A detected mention: a character span with a type label and a detector score.

    ``vector`` is the detector's span representation (same space as the entity
    embeddings); it is not part of equality or the printed form.
    """

    start: int
    end: int
    text: str
    label: str
    score: float
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Candidate:
    """A KB entity proposed for a mention by a retriever.

    Attributes:
        qid: Entity id.
        score: The retriever's score (higher is better) used for retrieval order.
        dense_score: Span·entity inner product, when known.
        alias_match: True when the mention's normalised text is a label or alias of the entity.
        sources: Names of the retrievers that proposed it.
        name_score: Cosine between the mention text's and the entity's sentence embeddings, when known.
    """

    qid: str
    score: float
    dense_score: float | None = None
    alias_match: bool = False
    sources: tuple[str, ...] = ()
    name_score: float | None = None


@dataclass(frozen=True)
class LinkDecision:
    """A reranker's verdict for one mention: ranked candidates and the chosen entity.

    ``qid`` is ``None`` for NIL (no candidate scored above the threshold).
    ``ranked`` pairs each candidate with its final score, best first.
    """

    qid: str | None
    link_score: float
    ranked: tuple[tuple[Candidate, float], ...] = ()


@dataclass(frozen=True)
class LinkedMention:
    """A mention with its linking result, as written into a :class:`Document`."""

    start: int
    end: int
    text: str
    label: str
    score: float
    qid: str | None
    entity_label: str | None = None
    description: str | None = None
    link_score: float = 0.0
    candidates: tuple[dict[str, Any], ...] = ()

    def to_dict(self, with_candidates: bool = False) -> dict[str, Any]:
        """JSON view; candidates are included only on request."""
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "label": self.label,
            "score": round(self.score, 6),
            "qid": self.qid,
            "entity_label": self.entity_label,
            "description": self.description,
            "link_score": round(self.link_score, 6),
        }
        if with_candidates:
            out["candidates"] = list(self.candidates)
        return out


@dataclass
class Document:
    """The carrier object: input text plus the annotations the pipeline writes."""

    id: str
    text: str
    mentions: list[LinkedMention] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_candidates: bool = False) -> dict[str, Any]:
        """JSON view used for JSONL output."""
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        out.update(self.meta)
        out["mentions"] = [m.to_dict(with_candidates) for m in self.mentions]
        return out
