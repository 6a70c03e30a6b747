"""Reading documents (text file, folder of .txt, JSONL, stdin) and writing JSONL results."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from glinker.errors import InputError
from glinker.types import Document

logger = logging.getLogger(__name__)


class BadDocument(InputError):
    """One input document is unusable; the run goes on and exits non-zero at the end."""


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadDocument(
            f"{where}: invalid UTF-8 at byte {exc.start} ({data[exc.start:exc.start + 4]!r}); "
            "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _text_doc(text: str, doc_id: str, where: str) -> Document:
    if not text.strip():
        raise BadDocument(f"{where}: empty document '{doc_id}': nothing to link")
    return Document(doc_id, text)


def read_documents(source: str | os.PathLike[str], stdin: IO[bytes] | None = None) -> Iterator[Document | BadDocument]:
    """Yield documents, or a :class:`BadDocument` error in place of each unusable one.

    ``source`` is ``-`` (stdin: JSONL if it starts with ``{``, else one text), a
    ``.jsonl`` file of ``{"id", "text"}`` objects, a text file, or a folder of
    ``.txt`` files (ids are the file names).

    Raises:
        InputError: the source does not exist or is not readable at all.
    """
    if str(source) == "-":
        data = (stdin or sys.stdin.buffer).read()
        if data.lstrip()[:1] == b"{":
            yield from _read_jsonl(io.BytesIO(data), "<stdin>")
        else:
            try:
                yield _text_doc(_decode(data, "<stdin>"), "stdin", "<stdin>")
            except BadDocument as exc:
                yield exc
        return
    path = Path(source)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise InputError(f"input folder {path} has no .txt files")
        for f in files:
            try:
                yield _text_doc(_decode(f.read_bytes(), str(f)), str(f.relative_to(path)), str(f))
            except BadDocument as exc:
                yield exc
        return
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with open(path, "rb") as fh:
            yield from _read_jsonl(fh, str(path))
        return
    try:
        yield _text_doc(_decode(path.read_bytes(), str(path)), path.name, str(path))
    except BadDocument as exc:
        yield exc


def _read_jsonl(fh: IO[bytes], name: str) -> Iterator[Document | BadDocument]:
    seen: set[str] = set()
    for line_no, raw in enumerate(fh, 1):
        if not raw.strip():
            continue
        where = f"{name} line {line_no}"
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield BadDocument(f"{where}: not valid JSON ({exc}); "
                              "each line must be an object like {\"id\": ..., \"text\": ...}")
            continue
        if not isinstance(obj, dict):
            yield BadDocument(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        text = obj.get("text")
        if not isinstance(text, str):
            yield BadDocument(f"{where}: key 'text' missing or not a string")
            continue
        doc_id = str(obj.get("id", line_no))
        if doc_id in seen:
            logger.warning("%s: duplicate id %r", where, doc_id)
        seen.add(doc_id)
        try:
            doc = _text_doc(text, doc_id, where)
        except BadDocument as exc:
            yield exc
            continue
        doc.meta = {k: v for k, v in obj.items() if k not in ("id", "text", "mentions")}
        yield doc


class JsonlWriter:
    """Writes one JSON object per line to stdout or, atomically, to a file (renamed into place on close)."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = str(target)
        if self.target == "-":
            self._fh: IO[bytes] = sys.stdout.buffer
            self._tmp = None
        else:
            path = Path(self.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            self._fh = open(self._tmp, "wb")

    def write(self, obj: dict) -> None:
        """Append one object."""
        self._fh.write(orjson.dumps(obj) + b"\n")
        if self._tmp is None:
            self._fh.flush()

    def close(self, success: bool = True) -> None:
        """Publish the file; after a failure keep what was written as ``<output>.partial``."""
        if self._tmp is None:
            self._fh.flush()
            return
        self._fh.close()
        if success:
            os.replace(self._tmp, self.target)
        else:
            partial = f"{self.target}.partial"
            os.replace(self._tmp, partial)
            logger.error("run failed: results written so far are in %s", partial)
