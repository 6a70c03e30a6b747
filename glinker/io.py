"""Reading documents (text file, folder of .txt, JSONL, stdin) and writing JSONL results."""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import IO

import orjson

from glinker.errors import InputError
from glinker.interrupts import remove_leftovers
from glinker.types import Document

logger = logging.getLogger(__name__)

# A character takes at most 4 bytes in UTF-8, and at most 12 in a JSON string (a "\ud83d\ude00" pair):
# longer inputs cannot hold a document within max_chars and are skipped without being kept in memory.
_UTF8_BYTES, _JSON_BYTES = 4, 12
_JSON_SLACK = 1 << 20  # the id and the other keys of a JSONL line


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


def too_big(where: str, doc_id: str, size: str, max_chars: int) -> BadDocument:
    """The error for a document over ``max_chars``; ``size`` says how big it is (``"6,000,000 characters"``)."""
    return BadDocument(f"{where}: document '{doc_id}' is {size}, over the limit max_chars={max_chars:,}; "
                       "split it into smaller documents or raise the limit (max_chars=N, max_chars=null: none)")


def check_size(doc: Document, where: str, max_chars: int | None) -> Document:
    """``doc`` itself, or :class:`BadDocument` raised when its text is longer than ``max_chars``."""
    if max_chars is not None and len(doc.text) > max_chars:
        raise too_big(where, doc.id, f"{len(doc.text):,} characters", max_chars)
    return doc


def _text_doc(text: str, doc_id: str, where: str, max_chars: int | None = None) -> Document:
    if not text.strip():
        raise BadDocument(f"{where}: empty document '{doc_id}': nothing to link")
    return check_size(Document(doc_id, text), where, max_chars)


def _text_file_doc(path: Path, doc_id: str, max_chars: int | None) -> Document:
    if max_chars is not None:
        size = path.stat().st_size
        if size > _UTF8_BYTES * max_chars:  # too long whatever it holds: not read
            raise too_big(str(path), doc_id, f"{size:,} bytes (more than {_UTF8_BYTES} a character)", max_chars)
    return _text_doc(_decode(path.read_bytes(), str(path)), doc_id, str(path), max_chars)


def read_documents(source: str | os.PathLike[str], stdin: IO[bytes] | None = None,
                   max_chars: int | None = None) -> Iterator[Document | BadDocument]:
    """Yield documents, or a :class:`BadDocument` error in place of each unusable one.

    ``source`` is ``-`` (stdin: JSONL if its first non-blank line starts with ``{``, else one
    text; JSONL is read as it arrives), a ``.jsonl`` file of ``{"id", "text"}`` objects, a text
    file, or a folder of ``.txt`` files (ids are the file names). A document longer than
    ``max_chars`` characters (``None``: no limit) is a bad document.

    Raises:
        InputError: the source does not exist or is not readable at all.
    """
    if str(source) == "-":
        yield from _read_stdin(stdin or sys.stdin.buffer, max_chars)
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
                yield _text_file_doc(f, str(f.relative_to(path)), max_chars)
            except BadDocument as exc:
                yield exc
        return
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with open(path, "rb") as fh:
            yield from _read_jsonl(_bounded_lines(fh, _line_limit(max_chars)), str(path), max_chars)
        return
    try:
        yield _text_file_doc(path, path.name, max_chars)
    except BadDocument as exc:
        yield exc


def _line_limit(max_chars: int | None) -> int | None:
    return None if max_chars is None else _JSON_BYTES * max_chars + _JSON_SLACK


def _bounded_lines(fh: IO[bytes], limit: int | None) -> Iterator[tuple[bytes, int]]:
    """(line, its length in bytes) for each line; a line over ``limit`` bytes is cut there (the rest is dropped)."""
    while line := (fh.readline(limit) if limit else fh.readline()):
        size = len(line)
        if limit and size == limit and not line.endswith(b"\n"):
            while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
                size += len(more)
            size += len(more)
        yield line, size


def _read_stdin(fh: IO[bytes], max_chars: int | None) -> Iterator[Document | BadDocument]:
    lines = _bounded_lines(fh, _line_limit(max_chars))
    head: list[tuple[bytes, int]] = []
    for line, size in lines:
        head.append((line, size))
        if line.strip():
            break
    if head and head[-1][0].lstrip()[:1] == b"{":
        yield from _read_jsonl(chain(head, lines), "<stdin>", max_chars)
        return
    data = b"".join(line for line, _ in head)
    size = sum(n for _, n in head)
    if max_chars is None:
        data += fh.read()
    else:  # keep no more than max_chars can take; count the rest
        if size == len(data):
            data += fh.read(max(0, _UTF8_BYTES * max_chars + 1 - len(data)))
            size = len(data)
        while chunk := fh.read(1 << 20):
            size += len(chunk)
    try:
        if max_chars is not None and size > _UTF8_BYTES * max_chars:
            raise too_big("<stdin>", "stdin", f"{size:,} bytes (more than {_UTF8_BYTES} a character)", max_chars)
        yield _text_doc(_decode(data, "<stdin>"), "stdin", "<stdin>", max_chars)
    except BadDocument as exc:
        yield exc


def _read_jsonl(lines: Iterable[tuple[bytes, int]], name: str,
                max_chars: int | None) -> Iterator[Document | BadDocument]:
    seen: set[str] = set()
    for line_no, (raw, size) in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{name} line {line_no}"
        if size > len(raw):
            yield BadDocument(f"{where}: the line is {size:,} bytes, more than a document within "
                              f"max_chars={max_chars:,} can take ({_JSON_BYTES} bytes a character in JSON); "
                              "split the document or raise the limit (max_chars=N, max_chars=null: none)")
            continue
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
            doc = _text_doc(text, doc_id, where, max_chars)
        except BadDocument as exc:
            yield exc
            continue
        doc.meta = {k: v for k, v in obj.items() if k not in ("id", "text", "mentions")}
        yield doc


def _same_file_as_stdout(path: Path) -> bool:
    try:
        st, out = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no such path; stdout closed or not a real file
        return False
    return (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino)


class JsonlWriter:
    """Writes one JSON object per line to stdout, a device or pipe, or, atomically, to a regular file.

    * ``-``, or a path that is this process's stdout (``/dev/stdout``, a link to it): stdout.
    * an existing file that is not a regular file (a FIFO, a character device such as
      ``/dev/null``, a terminal), or any path under ``/dev`` or ``/proc``: written directly, never
      replaced.
    * a regular file or a new path (links followed): written to a hidden temporary file beside it
      (``.NAME.tmpPID``) and renamed over it on success, so an existing file changes only when the
      run succeeds. Temporary files of killed runs of the same output are removed first.

    Raises:
        InputError: the output is a folder or cannot be opened for writing.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = str(target)
        self.lines = 0
        self._tmp: Path | None = None
        self._final: Path | None = None
        if self.target == "-" or _same_file_as_stdout(Path(self.target)):
            self.where = "stdout"
            self._fh: IO[bytes] = sys.stdout.buffer
            self._own = False
            return
        self.where = self.target
        self._own = True
        # stat and open the path as given: the kernel follows /proc/self/fd links, realpath cannot
        final = Path(os.path.realpath(self.target))
        try:
            st = os.stat(self.target)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise InputError(f"output={self.target}: cannot be used ({exc.strerror})") from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise InputError(f"output={self.target} is a folder: give a file path, or - for stdout")
        system = any(p.parts[1:2] in (("dev",), ("proc",)) for p in (Path(os.path.abspath(self.target)), final))
        try:
            if system or (st is not None and not stat.S_ISREG(st.st_mode)):
                self._fh = open(self.target, "wb")  # a FIFO waits here for its reader
                return
            final.parent.mkdir(parents=True, exist_ok=True)
            prefix = f".{final.name}.tmp"
            remove_leftovers(final.parent, prefix, f"output={self.target}")
            self._tmp, self._final = final.with_name(f"{prefix}{os.getpid()}"), final
            self._fh = open(self._tmp, "wb")
            if st is not None:  # the new file keeps the permissions of the one it replaces
                os.chmod(self._tmp, stat.S_IMODE(st.st_mode))
        except OSError as exc:
            raise InputError(f"output={self.target}: cannot write there ({exc.strerror}); "
                             "choose another path, or - for stdout") from None

    def write(self, obj: dict) -> None:
        """Append one object."""
        self._fh.write(orjson.dumps(obj) + b"\n")
        self.lines += 1
        self._fh.flush()  # a reader (or tail -f of the temporary file) sees each document as it is linked

    def close(self, success: bool = True) -> str | None:
        """Publish the output; after a failure keep what was written as ``<output>.partial``.

        Returns:
            Where the written lines are now (the output, ``<output>.partial`` or ``stdout``), or
            ``None`` when a failed run wrote nothing to a file (its temporary file is deleted).
        """
        if not self._own:
            try:
                self._fh.flush()
            except BrokenPipeError:  # the reader went away; what it read is all there is
                pass
            return self.where
        if self._fh.closed:
            return self.where
        if self._tmp is None:
            try:
                self._fh.close()
            except BrokenPipeError:
                pass
            return self.where
        self._fh.close()
        if success:
            os.replace(self._tmp, self._final)
            return self.where
        if not self.lines:
            self._tmp.unlink(missing_ok=True)
            return None
        partial = f"{self._final}.partial"
        os.replace(self._tmp, partial)
        return partial
