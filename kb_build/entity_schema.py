"""The msgspec schema of one Wikidata dump entity line, and the fast :class:`EntityRecord` constructor.

Each line is decoded by msgspec into typed Structs that name only what we
keep: the configured languages of labels / descriptions / aliases, the P31
and P279 statements, and the sitelink keys. msgspec skips every other key
(other languages, other claims, references, qualifiers) without building
Python objects for it, which is what makes a full-dump pass affordable.
:class:`kb_build.extractor.Extractor` turns the decoded entity into a record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from glinker.types import EntityRecord


class MalformedEntity(ValueError):
    """A dump line is not a valid entity (bad JSON, missing ``id``, wrong field types)."""


# msgspec schema. Old dumps write empty label/description/alias maps (and claims) as []
# instead of {}, hence the ``| list[Any]`` alternatives. gc=False: these short-lived
# objects never form cycles, and untracked ones do not trigger garbage collections
# (about 5% of extraction time on the arnold dump).


class _Text(msgspec.Struct, gc=False):
    value: str


class _EntityIdValue(msgspec.Struct, gc=False):
    id: str | None = None
    numeric_id: int | None = msgspec.field(default=None, name="numeric-id")  # 2015 dumps: no "id"
    entity_type: str = msgspec.field(default="item", name="entity-type")


class _DataValue(msgspec.Struct, gc=False):
    value: _EntityIdValue


class _Snak(msgspec.Struct, gc=False):
    snaktype: str = "value"
    datavalue: _DataValue | None = None


class _Statement(msgspec.Struct, gc=False):
    mainsnak: _Snak
    rank: str = "normal"


class _Claims(msgspec.Struct, gc=False):
    P31: list[_Statement] = []
    P279: list[_Statement] = []


def make_decoder(languages: tuple[str, ...]) -> msgspec.json.Decoder:
    """Builds a decoder of one entity line whose label/alias Structs have one field per wanted language."""

    def per_language(name: str, value_type: Any) -> Any:
        return msgspec.defstruct(
            name,
            [(f"l{i}", value_type | None, msgspec.field(default=None, name=lang)) for i, lang in enumerate(languages)],
            gc=False,
        )

    texts = per_language("Texts", _Text)
    alias_lists = per_language("AliasLists", list[_Text])
    entity = msgspec.defstruct(
        "Entity",
        [
            ("id", str),
            ("type", str, ""),
            ("labels", texts | list[Any], msgspec.field(default_factory=list)),
            ("descriptions", texts | list[Any], msgspec.field(default_factory=list)),
            ("aliases", alias_lists | list[Any], msgspec.field(default_factory=list)),
            ("lemmas", texts | list[Any], msgspec.field(default_factory=list)),
            ("claims", _Claims | list[Any], msgspec.field(default_factory=list)),
            # Raw: the sitelink objects are only counted, never decoded.
            ("sitelinks", dict[str, msgspec.Raw] | list[Any], msgspec.field(default_factory=dict)),
        ],
        gc=False,
    )
    return msgspec.json.Decoder(entity)


astuple = msgspec.structs.astuple
"""A Struct's field values as a tuple."""


def text_values(texts: Any) -> tuple[Any, ...]:
    """Per-language field values of a Texts/AliasLists Struct; () for the old-dump []."""
    return () if type(texts) is list else astuple(texts)


EntityFields = tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], int, float]
"""An :class:`EntityRecord`'s fields without ``row``, in declaration order."""

_RECORD_FIELDS = ("qid", "label", "description", "aliases", "types", "superclasses", "sitelinks", "popularity", "row")
_object_new = object.__new__


def new_record(f: EntityFields) -> EntityRecord:
    """``EntityRecord(*f)`` at less than half the cost.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
    filling the instance dict directly gives an equal record (building records was a
    fifth of extraction time). Falls back to the constructor if the class changes shape.
    """
    rec = _object_new(EntityRecord)
    rec.__dict__.update(
        qid=f[0], label=f[1], description=f[2], aliases=f[3], types=f[4], superclasses=f[5],
        sitelinks=f[6], popularity=f[7], row=-1,
    )
    return rec


if (
    tuple(f.name for f in dataclasses.fields(EntityRecord)) != _RECORD_FIELDS
    or hasattr(EntityRecord, "__post_init__")
    or hasattr(EntityRecord, "__slots__")
):  # pragma: no cover - guards a future change of EntityRecord

    def new_record(f: EntityFields) -> EntityRecord:  # noqa: F811
        return EntityRecord(*f)


def statement_targets(statements: list[_Statement]) -> tuple[str, ...]:
    """The targets of the non-deprecated value statements, in statement order, without duplicates.

    Raises:
        MalformedEntity: An entity-id value has neither ``id`` nor ``numeric-id``.
    """
    out: list[str] = []
    for statement in statements:
        snak = statement.mainsnak
        if statement.rank == "deprecated" or snak.snaktype != "value" or snak.datavalue is None:
            continue
        value = snak.datavalue.value
        target = value.id
        if target is None:
            if value.numeric_id is None:
                raise MalformedEntity("an entity-id value has neither 'id' nor 'numeric-id'")
            prefix = "P" if value.entity_type == "property" else "Q"
            target = f"{prefix}{value.numeric_id}"
        if target not in out:
            out.append(target)
    return tuple(out)

