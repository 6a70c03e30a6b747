"""Opening Wikidata dumps: the compression check and the decompressing streams.

The readers take the compression (gzip, bzip2 or none) from the file's magic bytes,
not its suffix; :func:`check_dump_file`, which ``kb_build`` runs before any work,
refuses a file whose magic bytes and suffix disagree (a random or mislabelled
``.json.gz`` would otherwise be read as plain JSON and fail line by line).
:mod:`kb_build.dump` splits the decompressed bytes into entity lines.

Decompression uses ``rapidgzip`` / ``indexed_bzip2`` when importable (parallel
decoders) and the standard library otherwise. Every decompression failure
surfaces as one :class:`glinker.errors.DumpError` naming the file.

Quirks of the parallel decoders (rapidgzip 0.16.2, indexed_bzip2 1.7.0), found
by truncating and bit-flipping test files, and how this module handles them:

* rapidgzip verifies each member's CRC32 and ISIZE, but on a *truncated* file
  it often stops silently at the last complete deflate block (about half of
  random cut points). After EOF we compare ``tell_compressed()`` (bits
  consumed) with the file size: a complete file is consumed to its last byte.
* indexed_bzip2 verifies each block's CRC but returns no data and no error when
  the file is cut to its first few bytes; an empty result is re-checked with
  the stdlib ``bz2`` decoder.
* indexed_bzip2 does not check the stream-level combined CRC (each block CRC is
  checked, so the data it returns is still verified).
* A rapidgzip file left open at interpreter exit aborts the process
  ("Detected Python finalization from running rapidgzip thread"), e.g. when a
  half-consumed :func:`kb_build.dump.iter_lines` generator is still alive. Open streams are
  tracked and closed by an ``atexit`` hook.
* rapidgzip prints its own diagnostics to stderr on corrupt input, and rejects
  zero-padded gzip files that the stdlib accepts.
* Speed on 2 vCPUs: rapidgzip with ``parallelization=1`` (ISA-L inflate) read
  ~20% faster than stdlib gzip (~560 MB/s); ``parallelization=2`` was slower
  (its speculative decoding needs more cores), so pass ``threads=1`` on small
  machines, especially when parsing workers share the cores.
* Truncation exactly at a gzip member or bzip2 stream boundary cannot be
  detected by any decoder (the prefix is itself a valid file).
"""

from __future__ import annotations

import atexit
import bz2
import gzip
import io
import os
import weakref
import zlib
from pathlib import Path
from typing import BinaryIO

from glinker.errors import DumpError

try:  # optional parallel decoders
    import rapidgzip
except ImportError:  # pragma: no cover - depends on the environment
    rapidgzip = None
try:
    import indexed_bzip2
except ImportError:  # pragma: no cover - depends on the environment
    indexed_bzip2 = None

BLOCK_SIZE = 1 << 22
"""Bytes of decompressed data read per call (4 MiB)."""

_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_UNSUPPORTED_MAGIC = {b"\x28\xb5\x2f\xfd": "zstd", b"\xfd7zXZ\x00": "xz"}

# Everything the four decoders were seen to raise on corrupt input;
# gzip.BadGzipFile is an OSError.
_STREAM_ERRORS = (EOFError, OSError, zlib.error, RuntimeError, ValueError)

_open_streams: weakref.WeakSet[_DumpStream] = weakref.WeakSet()


@atexit.register
def _close_open_streams() -> None:
    for stream in list(_open_streams):
        try:
            stream.close()
        except Exception:  # best effort at exit
            pass


# What a file's suffix promises; other suffixes are not checked.
_SUFFIX_FORMATS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".json": "plain JSON", ".jsonl": "plain JSON",
                   ".ndjson": "plain JSON"}
_FORMAT_SUFFIXES = {"gzip": ".gz", "bzip2": ".bz2"}


def _format_of(magic: bytes) -> str:
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_BZ2_MAGIC):
        return "bzip2"
    for prefix, name in _UNSUPPORTED_MAGIC.items():
        if magic.startswith(prefix):
            return name
    return "plain JSON"


def check_dump_file(path: str | Path) -> str:
    """Refuse a dump whose compression (magic bytes) is not the one its suffix names; cheap (reads 8 bytes).

    Args:
        path: The dump file.

    Returns:
        The format: ``"gzip"``, ``"bzip2"`` or ``"plain JSON"``.

    Raises:
        DumpError: The file is missing or unreadable, its suffix (``.gz``, ``.bz2``, ``.json``,
            ``.jsonl``, ``.ndjson``) and magic bytes disagree, or it is zstd / xz compressed.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            magic = fh.read(8)
    except FileNotFoundError:
        raise DumpError(f"dump not found: {p}") from None
    except OSError as exc:
        raise DumpError(f"cannot open dump {p}: {exc.strerror or exc}") from None
    found = _format_of(magic)
    if found in _UNSUPPORTED_MAGIC.values():
        raise DumpError(f"dump {p} is {found}-compressed: recompress it as .gz or .bz2")
    expected = _SUFFIX_FORMATS.get(p.suffix.lower())
    if expected is None or expected == found:
        return found
    start = f"starts with bytes {magic.hex(' ')}" if magic else "an empty file"
    if expected == "plain JSON":
        why, fix = f"{found} data", f"rename it to {p.name}{_FORMAT_SUFFIXES[found]} or decompress it"
    elif found == "plain JSON":
        why, fix = "no gzip or bzip2 header", f"rename it without {p.suffix} if it is plain JSON, else recompress it"
    else:
        why, fix = f"{found} data", f"rename it to {p.name[: -len(p.suffix)]}{_FORMAT_SUFFIXES[found]} or recompress it"
    raise DumpError(f"dump {p} is not {expected} ({start}: {why}): {fix}")


def _corrupt(path: Path, exc: BaseException) -> DumpError:
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:200] + "..."
    return DumpError(f"dump {path} is truncated or corrupt ({type(exc).__name__}: {detail}): re-download it")


class _DumpStream(io.RawIOBase):
    """Wraps a decoder: maps its errors to DumpError and checks for silent truncation."""

    def __init__(self, path: Path, inner: BinaryIO, kind: str, compressed_size: int) -> None:
        super().__init__()
        self._path = path
        self._inner = inner
        self._kind = kind
        self._compressed_size = compressed_size
        self._produced = 0
        self._checked_eof = False
        _open_streams.add(self)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()  # in blocks, so that the end-of-stream check runs
        try:
            data = self._inner.read(size)
        except _STREAM_ERRORS as exc:
            raise _corrupt(self._path, exc) from exc
        if data:
            self._produced += len(data)
        elif size != 0:
            self._check_eof()
        return data

    def readinto(self, buffer) -> int:
        try:
            n = self._inner.readinto(buffer)
        except _STREAM_ERRORS as exc:
            raise _corrupt(self._path, exc) from exc
        if n:
            self._produced += n
        elif len(buffer):
            self._check_eof()
        return n

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(BLOCK_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_eof(self) -> None:
        if self._checked_eof:
            return
        self._checked_eof = True
        if self._kind == "rapidgzip":
            try:
                consumed = (self._inner.tell_compressed() + 7) // 8
            except _STREAM_ERRORS as exc:
                raise _corrupt(self._path, exc) from exc
            if consumed < self._compressed_size:
                raise DumpError(
                    f"dump {self._path} is truncated or corrupt (the gzip stream ends at byte "
                    f"{consumed} of {self._compressed_size}): re-download it"
                )
        elif self._kind == "indexed_bzip2" and self._produced == 0:
            # Only files that decoded to nothing are read again, so this is cheap.
            has_data = False
            try:
                with bz2.open(self._path, "rb") as check:
                    while check.read(BLOCK_SIZE):
                        has_data = True
            except _STREAM_ERRORS as exc:
                raise _corrupt(self._path, exc) from exc
            if has_data:
                raise DumpError(
                    f"dump {self._path} could not be decoded by indexed_bzip2 but bz2 reads it: "
                    "uninstall indexed_bzip2 or recompress the file"
                )

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                _open_streams.discard(self)
                super().close()


def open_input(path: str | Path, error: type[Exception], what: str) -> BinaryIO:
    """``path`` opened for binary reading; a missing or unreadable file raises ``error`` naming ``what``."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot open {what} {path}: {exc.strerror or exc}") from None


def open_stream(path: str | Path, threads: int = 0) -> _DumpStream | BinaryIO:
    """Opens ``path`` as an unbuffered decompressing stream (:func:`open_dump` buffers it); the
    arguments, what reading it raises and the errors are :func:`open_dump`'s."""
    p = Path(path)
    fh = open_input(p, DumpError, "dump")
    try:
        magic = fh.read(6)
        size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        fh.close()
        raise DumpError(f"cannot read dump {p}: {exc.strerror or exc}") from None
    for prefix, name in _UNSUPPORTED_MAGIC.items():
        if magic.startswith(prefix):
            fh.close()
            raise DumpError(f"dump {p} is {name}-compressed: recompress it as .gz or .bz2")
    if not (magic.startswith(_GZIP_MAGIC) or magic.startswith(_BZ2_MAGIC)):
        fh.seek(0)
        return fh
    fh.close()  # the decoders open the file by path (GzipFile(fileobj=) would not close it)
    parallel = threads if threads > 0 else (os.cpu_count() or 1)
    try:
        if magic.startswith(_GZIP_MAGIC):
            if rapidgzip is not None:
                inner = rapidgzip.open(str(p), parallelization=parallel)
                return _DumpStream(p, inner, "rapidgzip", size)
            return _DumpStream(p, gzip.GzipFile(str(p), mode="rb"), "gzip", size)
        if indexed_bzip2 is not None:
            inner = indexed_bzip2.open(str(p), parallelization=parallel)
            return _DumpStream(p, inner, "indexed_bzip2", size)
        return _DumpStream(p, bz2.BZ2File(str(p), mode="rb"), "bz2", size)
    except _STREAM_ERRORS as exc:
        raise _corrupt(p, exc) from exc


def open_dump(path: str | Path, threads: int = 0) -> BinaryIO:
    """Opens a dump as a binary stream of decompressed bytes.

    Args:
        path: A ``.json``, ``.json.gz`` or ``.json.bz2`` file; the format is taken
            from the magic bytes.
        threads: Decoder threads for gzip/bzip2 (rapidgzip / indexed_bzip2);
            0 means ``os.cpu_count()``. Ignored for plain JSON and the stdlib fallbacks.

    Returns:
        A buffered binary stream; close it (or use ``with``). Reading it raises
        :class:`DumpError` when the compressed data is truncated or corrupt.

    Raises:
        DumpError: The file is missing, unreadable, or uses an unsupported compression.
    """
    stream = open_stream(path, threads)
    if isinstance(stream, _DumpStream):
        return io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[return-value]
    return stream
