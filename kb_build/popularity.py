"""Reader for popularity tables (a prior score per Wikidata entity).

Accepted shapes: ``qid<TAB>score[<TAB>more...]`` (``.tsv`` / ``.tsv.gz``, e.g. the
arnold ``qid pagerank in_degree`` table) and comma-separated files such as
QRank's ``Entity,QRank``. A header line is optional. The delimiter is taken
from the first line (tab if it has one, else comma, else whitespace); the score
column is the first column after the id that holds a number on the first data line.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path
from typing import IO

from glinker.errors import InputError
from kb_build.decompress import open_input

_GZIP_MAGIC = b"\x1f\x8b"
_ID_PREFIXES = frozenset("QPL")


def _is_entity_id(field: str) -> bool:
    """True for ``Q42``, ``P31``, ``L7``; cheaper than a regex on 100M lines."""
    digits = field[1:]
    return len(field) > 1 and field[0] in _ID_PREFIXES and digits.isascii() and digits.isdigit()


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _split(line: str, sep: str | None) -> list[str]:
    return [f.strip() for f in line.split(sep)]


def load_popularity(path: str | Path) -> dict[str, float]:
    """Loads a popularity table.

    Args:
        path: A ``.tsv``, ``.tsv.gz``, ``.csv`` or ``.csv.gz`` file (gzip is
            detected from the magic bytes).

    Returns:
        ``{qid: score}``. When an id appears twice, the later line wins.

    Raises:
        InputError: The file is missing, unreadable, has no numeric score column,
            or has a bad line (the message names the file and line number).
    """
    p = Path(path)
    with open_input(p, InputError, "popularity file") as fh:
        binary: IO[bytes] = fh
        if fh.read(2) == _GZIP_MAGIC:
            binary = gzip.GzipFile(fileobj=fh, mode="rb")
        fh.seek(0)
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline=None)
        try:
            return _parse(p, text)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"popularity file {p} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"popularity file {p} is not UTF-8 text ({exc})") from None


def _parse(path: Path, lines: IO[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    sep: str | None = None
    col = -1  # score column, fixed by the first data line
    first = True
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if first:
            first = False
            sep = "\t" if "\t" in line else "," if "," in line else None
            if not _is_entity_id(_split(line, sep)[0]):
                continue  # header
        fields = _split(line, sep)
        qid = fields[0]
        if not _is_entity_id(qid):
            raise InputError(
                f"popularity file {path} line {line_no}: {qid!r} is not a Wikidata id (Q..., P... or L...)"
            )
        if col < 0:
            numeric = [i for i in range(1, len(fields)) if _is_number(fields[i])]
            if not numeric:
                raise InputError(
                    f"popularity file {path} line {line_no}: no numeric score column after "
                    f"the id (delimiter {sep or 'whitespace'!r})"
                )
            col = numeric[0]
        if len(fields) <= col:
            raise InputError(
                f"popularity file {path} line {line_no}: expected at least {col + 1} columns, found {len(fields)}"
            )
        try:
            score = float(fields[col])
        except ValueError:
            raise InputError(f"popularity file {path} line {line_no}: score {fields[col]!r} is not a number") from None
        if not math.isfinite(score):
            raise InputError(f"popularity file {path} line {line_no}: score {fields[col]!r} is not finite")
        scores[qid] = score
    return scores
