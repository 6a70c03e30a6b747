"""Per-entity extraction from Wikidata dump lines, with filters.

Each line is decoded by msgspec into typed Structs that name only what we
keep: the configured languages of labels / descriptions / aliases, the P31
and P279 statements, and the sitelink keys. msgspec skips every other key
(other languages, other claims, references, qualifiers) without building
Python objects for it, which is what makes a full-dump pass affordable.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from glinker.types import EntityRecord
from kb_build.dump import block_lines, iter_line_blocks

DISAMBIGUATION_PAGE = "Q4167410"
SCHOLARLY_ARTICLE = "Q13442814"
# Wikimedia category, Wikimedia template, Wikinews article, Wikimedia list article
CATEGORY_LIKE = frozenset({"Q4167836", "Q11266439", "Q17633526", "Q13406463"})
MULTILINGUAL = "mul"
"""Wikidata's language code for labels valid in every language; tried after the configured ones."""

_TYPE_BY_PREFIX = {"Q": "item", "P": "property", "L": "lexeme", "M": "mediainfo"}
_MAX_IN_FLIGHT_PER_WORKER = 2


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


def _make_decoder(languages: tuple[str, ...]) -> msgspec.json.Decoder:
    """Builds a decoder whose label/alias Structs have one field per wanted language."""

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


_astuple = msgspec.structs.astuple


def _values(texts: Any) -> tuple[Any, ...]:
    """Per-language field values of a Texts/AliasLists Struct; () for the old-dump []."""
    return () if type(texts) is list else _astuple(texts)


_Fields = tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], int, float]
"""An :class:`EntityRecord`'s fields without ``row``, in declaration order."""

_RECORD_FIELDS = ("qid", "label", "description", "aliases", "types", "superclasses", "sitelinks", "popularity", "row")
_object_new = object.__new__


def _new_record(f: _Fields) -> EntityRecord:
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

    def _new_record(f: _Fields) -> EntityRecord:  # noqa: F811
        return EntityRecord(*f)


def _targets(statements: list[_Statement]) -> tuple[str, ...]:
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


@dataclass(frozen=True)
class FilterConfig:
    """Which entities :class:`Extractor` drops, and under which reason.

    Attributes:
        require_label: Drop entities without a label in the configured languages (``"no_label"``).
        drop_disambiguation: Drop P31 Q4167410, disambiguation page (``"disambiguation"``).
        drop_scholarly_articles: Drop P31 Q13442814, scholarly article (``"scholarly_article"``).
        drop_categories_templates: Drop P31 Q4167836 (category), Q11266439 (template), Q17633526
            (Wikinews article), Q13406463 (list article) (``"category_or_template"``).
        keep_properties: Keep P-entities (else reason ``"property"``).
        keep_lexemes: Keep lexemes, labelled by their lemma (else reason ``"lexeme"``).
    """

    require_label: bool = True
    drop_disambiguation: bool = True
    drop_scholarly_articles: bool = True
    drop_categories_templates: bool = True
    keep_properties: bool = False
    keep_lexemes: bool = False


def names_popularity(names: int) -> float:
    """A popularity prior from the number of names an entity has, for dumps without sitelinks or a table.

    Below one sitelink's worth (at most 0.9) so that real sitelink counts always dominate when present;
    rising with the count, as well-known entities collect names in many languages.
    """
    return 0.9 * (1.0 - 1.0 / (1.0 + names))


class Extractor:
    """Turns one dump line into an :class:`EntityRecord` or the reason it was filtered out.

    Label and description come from the first language in ``languages`` that has one, then
    from ``"mul"``. Aliases are, language by language in that order, the language's label
    and its aliases, without duplicates and without the chosen label.

    ``types`` (P31) and ``superclasses`` (P279) keep the targets of all non-deprecated
    statements (preferred *and* normal rank), in statement order, deduplicated;
    ``novalue`` / ``somevalue`` snaks are skipped. This is wider than Wikidata's "truthy"
    set (only the preferred statements when there are any): an entity whose P31 lists a
    preferred and a normal class keeps both.

    Filters apply in this order: entity type, P31 filters, missing label.

    Instances are picklable (the decoder is rebuilt after unpickling) for worker processes.

    Args:
        languages: Language codes in fallback order.
        filters: Which entities to drop.
        popularity: Optional popularity table (qid -> score); missing qids get 0.0.
            Without a table, popularity is the sitelink count; an entity without sitelinks (a dump
            slice that dropped them) gets a small score from how many names it has (label and
            aliases in every language, :func:`names_popularity`), so the most-named homonym still
            ranks first.
    """

    def __init__(
        self,
        languages: Sequence[str] = ("en",),
        filters: FilterConfig = FilterConfig(),
        popularity: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(languages, str):
            languages = (languages,)
        if not languages:
            raise ValueError("Extractor needs at least one language")
        self.languages = tuple(languages)
        self.filters = filters
        self.popularity = popularity
        lookup = list(dict.fromkeys(self.languages))
        if MULTILINGUAL not in lookup:
            lookup.append(MULTILINGUAL)
        self._lookup = tuple(lookup)
        self._nones = (None,) * len(lookup)
        self._decoder = _make_decoder(self._lookup)

    def __getstate__(self) -> dict[str, Any]:
        # msgspec decoders and dynamically defined Structs do not pickle.
        return {k: v for k, v in self.__dict__.items() if k != "_decoder"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._decoder = _make_decoder(self._lookup)

    def extract(self, line: bytes) -> EntityRecord | str:
        """Extracts one entity.

        Args:
            line: One entity's JSON (as yielded by :func:`kb_build.dump.iter_lines`).

        Returns:
            An :class:`EntityRecord` (``row=-1``), or the reason the entity was dropped:
            ``"property"``, ``"lexeme"``, ``"other_type"``, ``"disambiguation"``,
            ``"scholarly_article"``, ``"category_or_template"`` or ``"no_label"``.

        Raises:
            MalformedEntity: The line is not valid JSON or not an entity.
        """
        fields = self._fields(line)
        return fields if type(fields) is str else _new_record(fields)

    def _fields(self, line: bytes) -> _Fields | str:
        """:meth:`extract` without building the record (workers send plain tuples)."""
        try:
            entity = self._decoder.decode(line)
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            raise MalformedEntity(f"invalid entity JSON: {exc}") from None
        qid = entity.id
        if not qid:
            raise MalformedEntity("entity has an empty 'id'")
        filters = self.filters
        kind = entity.type or _TYPE_BY_PREFIX.get(qid[0], "")
        if kind != "item":
            if kind == "property":
                if not filters.keep_properties:
                    return "property"
            elif kind == "lexeme":
                if not filters.keep_lexemes:
                    return "lexeme"
            else:
                return "other_type"

        claims = entity.claims
        if type(claims) is list:
            types: tuple[str, ...] = ()
            superclasses: tuple[str, ...] = ()
        else:
            types = _targets(claims.P31) if claims.P31 else ()
            superclasses = _targets(claims.P279) if claims.P279 else ()
            if types:
                if filters.drop_disambiguation and DISAMBIGUATION_PAGE in types:
                    return "disambiguation"
                if filters.drop_scholarly_articles and SCHOLARLY_ARTICLE in types:
                    return "scholarly_article"
                if filters.drop_categories_templates and not CATEGORY_LIKE.isdisjoint(types):
                    return "category_or_template"

        # One entry per lookup language (None: absent), so the loops below zip them.
        nones = self._nones
        labels = nones if type(entity.labels) is list else _astuple(entity.labels)
        if kind == "lexeme" and not any(labels):
            labels = _values(entity.lemmas) or nones
        label = ""
        for text in labels:
            if text is not None and text.value:
                label = text.value
                break
        if not label and filters.require_label:
            return "no_label"

        # Language by language: its label (if not the chosen one), then its aliases.
        seen = {label, ""}  # "" so that empty strings never become aliases
        aliases: list[str] = []
        alias_lists = nones if type(entity.aliases) is list else _astuple(entity.aliases)
        for text, alias_list in zip(labels, alias_lists):
            if text is not None and text.value not in seen:
                seen.add(text.value)
                aliases.append(text.value)
            if alias_list:
                for alias in alias_list:
                    if alias.value not in seen:
                        seen.add(alias.value)
                        aliases.append(alias.value)

        description = ""
        if type(entity.descriptions) is not list:
            for text in _astuple(entity.descriptions):
                if text is not None and text.value:
                    description = text.value
                    break
        sitelinks = len(entity.sitelinks)
        if self.popularity is not None:
            popularity = float(self.popularity.get(qid, 0.0))
        elif sitelinks:
            popularity = float(sitelinks)
        else:
            popularity = names_popularity(len(aliases) + bool(label))
        return (qid, label, description, tuple(aliases), types, superclasses, sitelinks, popularity)


@dataclass
class BatchResult:
    """What :func:`extract_batch` made of one batch of dump lines.

    Attributes:
        records: Kept entities, in dump order.
        filtered: Count of dropped entities per reason.
        malformed: ``(line_no, message)`` for every malformed line.
    """

    records: list[EntityRecord] = field(default_factory=list)
    filtered: Counter[str] = field(default_factory=Counter)
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers send results back by pickle. For 61k arnold records, msgspec msgpack
        # takes 0.05 s to encode / 0.20 s to decode vs 0.23 s / 0.33 s for pickling
        # the dataclasses, and decoding runs in the parent, the pipeline's bottleneck.
        blob = _RECORDS_ENCODER.encode(self.records)
        return (_rebuild_batch_result, (blob, dict(self.filtered), self.malformed))


_RECORDS_ENCODER = msgspec.msgpack.Encoder()
_RECORDS_DECODER = msgspec.msgpack.Decoder(list[EntityRecord])


def _rebuild_batch_result(blob: bytes, filtered: dict[str, int], malformed: list[tuple[int, str]]) -> BatchResult:
    return BatchResult(_RECORDS_DECODER.decode(blob), Counter(filtered), malformed)


_Rows = tuple[list[_Fields], Counter[str], list[tuple[int, str]]]


def _extract_rows(extractor: Extractor, batch: list[tuple[int, bytes]]) -> _Rows:
    """:func:`extract_batch` with record fields as plain tuples (cheap to pickle)."""
    rows: list[_Fields] = []
    filtered: Counter[str] = Counter()
    malformed: list[tuple[int, str]] = []
    append = rows.append
    fields = extractor._fields
    for line_no, line in batch:
        try:
            out = fields(line)
        except MalformedEntity as exc:
            malformed.append((line_no, str(exc)))
            continue
        if type(out) is str:
            filtered[out] += 1
        else:
            append(out)
    return rows, filtered, malformed


def _to_result(rows: _Rows) -> BatchResult:
    return BatchResult(list(map(_new_record, rows[0])), rows[1], rows[2])


# Workers send record fields msgpack-encoded: 5x cheaper to encode than pickling the
# tuples and as cheap to decode (arnold dump, 61k records: 0.011 s / 0.065 s).
_ROWS_ENCODER = msgspec.msgpack.Encoder()
_ROWS_DECODER = msgspec.msgpack.Decoder(list[_Fields])


def _wire_to_result(wire: tuple[bytes, Counter[str], list[tuple[int, str]]]) -> BatchResult:
    return BatchResult(list(map(_new_record, _ROWS_DECODER.decode(wire[0]))), wire[1], wire[2])


def extract_batch(extractor: Extractor, batch: list[tuple[int, bytes]]) -> BatchResult:
    """Extracts a batch of dump lines; never raises on bad lines.

    Args:
        extractor: The extractor to apply.
        batch: ``(line_no, line)`` pairs from :func:`kb_build.dump.iter_line_batches`.

    Returns:
        Records, filter counts and every malformed line with its message.
    """
    return _to_result(_extract_rows(extractor, batch))


_worker_extractor: Extractor | None = None


def _init_worker(extractor: Extractor) -> None:
    global _worker_extractor
    _worker_extractor = extractor


def _extract_block_in_worker(
    first_line_no: int, block: bytes, batch_lines: int
) -> list[tuple[bytes, Counter[str], list[tuple[int, str]]]]:
    # The worker splits the block itself: line splitting in the parent cost as
    # much as a third of parsing, and the parent is the pipeline's bottleneck.
    assert _worker_extractor is not None, "worker not initialised"
    out = []
    for batch in _block_batches(first_line_no, block, batch_lines):
        rows, filtered, malformed = _extract_rows(_worker_extractor, batch)
        out.append((_ROWS_ENCODER.encode(rows), filtered, malformed))
    return out


def _block_batches(first_line_no: int, block: bytes, batch_lines: int) -> Iterator[list[tuple[int, bytes]]]:
    lines = block_lines(first_line_no, block)
    for i in range(0, len(lines), batch_lines):
        yield lines[i : i + batch_lines]


def iter_extracted(
    path: str | Path,
    extractor: Extractor,
    workers: int = 1,
    batch_lines: int = 2000,
    threads: int = 0,
    *,
    start_method: str | None = None,
) -> Iterator[BatchResult]:
    """Reads a dump and yields one :class:`BatchResult` per batch, in dump order.

    Args:
        path: The dump (see :func:`kb_build.dump.open_dump`).
        extractor: Sent once to each worker (pool initializer).
        workers: Parsing processes; 1 parses in this process. With workers, this
            process only decompresses and hands ~4 MiB blocks of lines to them.
        batch_lines: Lines per batch (a batch never spans two ~4 MiB blocks of the
            decompressed dump, so some batches are shorter).
        threads: Decompression threads; 0 means ``os.cpu_count()``.
        start_method: multiprocessing start method ("fork", "spawn", ...); None: platform default.

    Yields:
        Batch results in dump order. At most ``2 * workers`` blocks are in flight, so
        memory stays bounded whatever the consumer's speed.

    Raises:
        DumpError: The dump is missing, truncated or corrupt.
    """
    if batch_lines < 1:
        raise ValueError(f"batch_lines must be >= 1, got {batch_lines}")
    if workers <= 1:
        for first_line_no, block in iter_line_blocks(path, threads):
            for batch in _block_batches(first_line_no, block, batch_lines):
                yield extract_batch(extractor, batch)
        return
    # The pool is started before the dump is opened so that forked workers never
    # inherit the decoder's threads.
    pool = multiprocessing.get_context(start_method).Pool(workers, initializer=_init_worker, initargs=(extractor,))
    try:
        # apply_async + a bounded deque rather than Pool.imap, which would read the
        # whole dump into its task queue as fast as it can.
        pending: deque[Any] = deque()
        max_in_flight = _MAX_IN_FLIGHT_PER_WORKER * workers
        for first_line_no, block in iter_line_blocks(path, threads):
            pending.append(pool.apply_async(_extract_block_in_worker, (first_line_no, block, batch_lines)))
            if len(pending) >= max_in_flight:
                yield from map(_wire_to_result, pending.popleft().get())
        while pending:
            yield from map(_wire_to_result, pending.popleft().get())
        pool.close()
        pool.join()
    finally:
        pool.terminate()
