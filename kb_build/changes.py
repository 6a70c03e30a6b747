"""What a KB update reads: changed entities, redirects and deletions, from the files a user has.

Changed entities come in either shape Wikidata hands them out:

* the dump's own format (``.json``, ``.json.gz``, ``.json.bz2``; a JSON array with one entity per
  line, or bare JSON lines), read by the same reader as ``kb_build``;
* the API's (``Special:EntityData/Q42.json``, ``wbgetentities``): ``{"entities": {"Q42": {...}}}``,
  one document per line or one (pretty-printed) document per file, unwrapped here.

Redirects: an ``entities`` entry whose key is not its ``id`` (``{"entities": {"Q1": {"id": "Q2",
...}}}``), an entity carrying ``"redirects": {"from": "Q1", "to": "Q2"}`` (``wbgetentities
redirects=yes``) or a bare ``{"redirects": {...}}`` / ``{"redirect": {...}}`` record: Q1 then
resolves to Q2. An entity marked ``"missing"`` is deleted. Deletions: a text file of QIDs, one a
line (blank lines and ``#`` comments skipped).

A record that cannot be read is yielded as :class:`Bad` with where it is and why; it never stops
the reading of the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from glinker.errors import DumpError
from kb_build.dump import check_dump_file, iter_lines, open_dump

ENTITY_ID = re.compile(r"^[QPL][1-9][0-9]*$")
MAX_DOCUMENT_BYTES = 1 << 28
"""A file that is one JSON document (not JSON lines) is parsed whole up to this size."""


@dataclass(frozen=True)
class EntityChange:
    """An entity to insert or replace: its QID and its JSON (the dump's entity shape)."""

    qid: str
    line: bytes
    where: str


@dataclass(frozen=True)
class Redirect:
    """``source`` now resolves to ``target``."""

    source: str
    target: str
    where: str


@dataclass(frozen=True)
class Deletion:
    """``qid`` leaves the KB."""

    qid: str
    where: str


@dataclass(frozen=True)
class Bad:
    """A record that could not be read."""

    where: str
    reason: str


Change = EntityChange | Redirect | Deletion | Bad


class _RedirectPair(msgspec.Struct):
    source: str = msgspec.field(name="from")
    target: str = msgspec.field(name="to")


class _Shape(msgspec.Struct):
    """The keys that tell the shapes apart; everything else is skipped by the decoder."""

    id: str | None = None
    entities: dict[str, msgspec.Raw] | None = None
    redirects: _RedirectPair | list[_RedirectPair] | None = None
    redirect: _RedirectPair | list[_RedirectPair] | None = None
    missing: Any = None  # wbgetentities marks an absent entity with "missing": ""


_shape = msgspec.json.Decoder(_Shape)


def _redirects(shape: _Shape, where: str) -> Iterator[Change]:
    for pairs in (shape.redirects, shape.redirect):
        for pair in [pairs] if isinstance(pairs, _RedirectPair) else pairs or []:
            if ENTITY_ID.match(pair.source) and ENTITY_ID.match(pair.target) and pair.source != pair.target:
                yield Redirect(pair.source, pair.target, where)
            else:
                yield Bad(where, f"redirect {pair.source!r} -> {pair.target!r} is not between two entity ids")


def _entity(key: str | None, raw: bytes, where: str) -> Iterator[Change]:
    try:
        shape = _shape.decode(raw)
    except msgspec.DecodeError as exc:
        yield Bad(where, f"invalid entity JSON: {exc}")
        return
    if shape.entities is not None:  # an API document on one line
        for inner_key, inner in shape.entities.items():
            yield from _entity(inner_key, bytes(inner), where)
        yield from _redirects(shape, where)
        return
    qid = shape.id or key
    if not qid or not ENTITY_ID.match(qid):
        if shape.redirects is not None or shape.redirect is not None:
            yield from _redirects(shape, where)
        else:
            yield Bad(where, f"no valid entity id (got {qid!r})")
        return
    if key is not None and key != qid:
        if not ENTITY_ID.match(key):
            yield Bad(where, f"entities key {key!r} is not an entity id")
            return
        yield Redirect(key, qid, where)
    if shape.missing is not None:
        yield Deletion(qid, where)
        return
    yield EntityChange(qid, raw, where)
    yield from _redirects(shape, where)


def _whole_document(path: Path) -> bytes | None:
    """The decompressed file when it is small enough to be one JSON document, else ``None``."""
    with open_dump(path, threads=1) as fh:
        data = fh.read(MAX_DOCUMENT_BYTES + 1)
    return data if len(data) <= MAX_DOCUMENT_BYTES else None


def read_changes(path: str | Path) -> Iterator[Change]:
    """The changes in a file of entities (dump format, JSON lines, or one API document).

    Raises:
        DumpError: The file is missing, mislabelled (suffix vs compression), truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise DumpError(f"changes file not found: {path}")
    check_dump_file(path)
    first = True
    for line_no, line in iter_lines(path, threads=1):
        if first:
            first = False
            if line[:1] in (b"{", b"[") and not _decodes(line):  # a pretty-printed document starts here
                data = _whole_document(path)
                try:
                    doc = msgspec.json.decode(data) if data else None
                except msgspec.DecodeError:
                    doc = None
                if isinstance(doc, (dict, list)):
                    for item in doc if isinstance(doc, list) else [doc]:
                        yield from _entity(None, msgspec.json.encode(item), str(path))
                    return
        yield from _entity(None, line, f"{path}:{line_no}")


def _decodes(line: bytes) -> bool:
    try:
        _shape.decode(line)
    except msgspec.DecodeError:
        return False
    return True


def read_deletions(path: str | Path) -> Iterator[Deletion | Bad]:
    """QIDs to delete, one a line.

    Raises:
        DumpError: The file is missing or unreadable.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpError(f"cannot read deletions file {path}: {exc}; give a UTF-8 text file of QIDs, one a line") \
            from None
    for line_no, line in enumerate(text.splitlines(), 1):
        qid = line.split("#", 1)[0].strip()
        if not qid:
            continue
        where = f"{path}:{line_no}"
        yield Deletion(qid, where) if ENTITY_ID.match(qid) else Bad(where, f"{qid!r} is not an entity id")
