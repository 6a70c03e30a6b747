"""Streaming reader for official Wikidata JSON dumps: the decompressed dump as entity lines.

A dump is a JSON array with one entity per line: ``[`` on the first line, each
entity followed by ``,`` except the last, ``]`` on the last line. Some files
(API streams, test samples) drop the brackets; both shapes are accepted and
blank lines are ignored. Opening, the compression check and decompression are
:mod:`kb_build.decompress` (:func:`open_dump` and :func:`check_dump_file` are
importable from here too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kb_build.decompress import BLOCK_SIZE, check_dump_file, open_dump, open_stream

__all__ = ["BLOCK_SIZE", "block_lines", "check_dump_file", "iter_line_batches", "iter_line_blocks", "iter_lines",
           "open_dump"]

_SKIP = frozenset((b"", b"[", b"]"))


def iter_line_blocks(path: str | Path, threads: int = 0) -> Iterator[tuple[int, bytes]]:
    """Yields the decompressed dump in blocks of whole lines, without splitting them.

    This is the cheap part of reading (a few bytes searches per 4 MiB block), so a
    process can hand the blocks to parsing workers and keep its own core free.

    Args:
        path: The dump file (see :func:`open_dump`).
        threads: Decoder threads; 0 means ``os.cpu_count()``.

    Yields:
        ``(line_no, block)``: the 1-based number of the block's first line and raw
        bytes that end with ``\\n``, except a last line without one. Blocks are
        about :data:`BLOCK_SIZE` bytes; a line longer than that is one block.

    Raises:
        DumpError: The file is missing, or its compressed stream is truncated or corrupt.
    """
    with open_stream(path, threads) as stream:
        read = stream.read
        line_no = 1
        tail = b""
        while chunk := read(BLOCK_SIZE):
            end = chunk.rfind(b"\n") + 1
            if not end:
                tail += chunk
                continue
            # join + memoryview: one copy of the block, not two (tail + chunk[:end]).
            block = b"".join((tail, memoryview(chunk)[:end])) if tail else chunk[:end]
            tail = chunk[end:]
            yield line_no, block
            line_no += block.count(b"\n")
        # Only reached after the stream's EOF checks passed, so a silently
        # truncated gzip never hands its partial last line to the parser.
        if tail:
            yield line_no, tail


def _split_block(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if not lines[-1]:
        lines.pop()  # the block's final newline
    return lines


def _clean(first_line_no: int, lines: list[bytes]) -> list[tuple[int, bytes]]:
    out = []
    append = out.append
    for line_no, raw in enumerate(lines, first_line_no):
        line = raw.strip()
        if line[-1:] == b",":
            line = line[:-1].rstrip()
        if line not in _SKIP:
            append((line_no, line))
    return out


def block_lines(first_line_no: int, block: bytes) -> list[tuple[int, bytes]]:
    """The entity lines of a block from :func:`iter_line_blocks`, as :func:`iter_lines` yields them.

    Args:
        first_line_no: The block's first line number, as yielded with it.
        block: The block.

    Returns:
        ``(line_no, entity_json)`` pairs.
    """
    return _clean(first_line_no, _split_block(block))


def iter_lines(path: str | Path, threads: int = 0) -> Iterator[tuple[int, bytes]]:
    """Yields the entity lines of a dump.

    Args:
        path: The dump file (see :func:`open_dump`).
        threads: Decoder threads; 0 means ``os.cpu_count()``.

    Yields:
        ``(line_no, entity_json)``: the 1-based line number in the decompressed
        file and the line without surrounding whitespace and trailing comma.
        The ``[`` / ``]`` lines and blank lines are skipped. A line cut off at
        the end of a plain-JSON file is yielded as is (the parser reports it).

    Raises:
        DumpError: The file is missing, or its compressed stream is truncated or corrupt.
    """
    for first_line_no, block in iter_line_blocks(path, threads):
        yield from block_lines(first_line_no, block)


def iter_line_batches(path: str | Path, batch_lines: int = 2000, threads: int = 0) -> Iterator[list[tuple[int, bytes]]]:
    """Yields the entity lines of a dump in lists, without a generator step per line.

    Args:
        path: The dump file (see :func:`open_dump`).
        batch_lines: Lines per list; the last list may be shorter.
        threads: Decoder threads; 0 means ``os.cpu_count()``.

    Yields:
        Lists of ``(line_no, entity_json)``, as :func:`iter_lines` would yield them.

    Raises:
        DumpError: The file is missing, or its compressed stream is truncated or corrupt.
        ValueError: ``batch_lines`` is below 1.
    """
    if batch_lines < 1:
        raise ValueError(f"batch_lines must be >= 1, got {batch_lines}")
    pending: list[tuple[int, bytes]] = []
    for first_line_no, block in iter_line_blocks(path, threads):
        pending.extend(block_lines(first_line_no, block))
        if len(pending) >= batch_lines:
            full = len(pending) - len(pending) % batch_lines
            for start in range(0, full, batch_lines):
                yield pending[start : start + batch_lines]
            pending = pending[full:]
    if pending:
        yield pending
