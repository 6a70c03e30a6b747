"""Request and response bodies of the HTTP API (they are also its OpenAPI schema at ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# REL's convention: [start, length]; or an object with start and end (exclusive)
SpanPair = Annotated[list[int], Field(min_length=2, max_length=2, description="[start, length] in characters")]


class SpanObject(BaseModel):
    """A character span, end exclusive."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=0)
    end: int = Field(ge=0)


Span = SpanPair | SpanObject


class LinkRequest(BaseModel):
    """Texts to link and how."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Arnold Schwarzenegger starred in The Terminator.", "candidates": 3},
        {"text": ["Merkel visited Paris.", "Obama was born in Hawaii."], "labels": ["person", "location"]},
        {"text": "Arnold moved to Graz.", "spans": [[0, 6], [16, 4]]},
    ]})
    text: str | list[str] = Field(description="One text, or a list of texts (linked as one batch)")
    labels: list[str] | None = Field(None, description="Entity types to detect (default: the server's)")
    threshold: float | None = Field(None, gt=0.0, lt=1.0, description="Detector threshold")
    candidates: int | None = Field(None, ge=0, description="Ranked candidates per mention in the output")
    spans: list[Span | list[Span] | None] | None = Field(
        None, description="Disambiguate these spans instead of detecting mentions: for one text a list of "
                          "spans ([start, length] or {start, end}); for a list of texts one such list (or null: "
                          "detect) per text. An empty list means: detect mentions.")


class CandidateOut(BaseModel):
    """A ranked candidate of a mention."""

    qid: str
    label: str | None = None
    score: float
    dense_score: float | None = None
    alias_match: bool = False
    sources: list[str] = []


class MentionOut(BaseModel):
    """A linked mention, as in the CLI's JSONL (``qid`` null: NIL)."""

    start: int
    end: int
    text: str
    label: str
    score: float
    qid: str | None
    entity_label: str | None = None
    description: str | None = None
    link_score: float
    candidates: list[CandidateOut] | None = None


class DocumentOut(BaseModel):
    """A linked document, as one line of the CLI's JSONL."""

    model_config = ConfigDict(extra="allow")
    id: str
    text: str
    mentions: list[MentionOut]


class EntityOut(BaseModel):
    """A knowledge-base record."""

    qid: str
    label: str
    description: str
    aliases: list[str]
    types: list[str]
    superclasses: list[str]
    sitelinks: int
    popularity: float


class ErrorOut(BaseModel):
    """Every error answer: what went wrong and what to do."""

    error: str
    status: int
    detail: list[dict[str, Any]] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what}
    for code, what in [(400, "malformed JSON"), (408, "not linked within the server's timeout_s"),
                       (413, "body, text or number of texts over a limit"),
                       (422, "invalid request (missing text, bad span, too many labels, ...)"),
                       (429, "too many documents waiting"), (503, "model and KB still loading")]
}
