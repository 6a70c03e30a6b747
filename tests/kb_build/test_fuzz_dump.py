"""Fuzzing the dump line parser (hypothesis, bounded): no input crashes it, every bad line is reported by number.

Inputs: arbitrary bytes, real entity lines with bytes deleted / inserted / replaced / cut, and
real entities with one value anywhere in the JSON tree replaced by an arbitrary JSON value (this
reaches the schema checks that byte noise rarely gets past). Examples are derandomized so the
default suite is repeatable; raise ``max_examples`` locally to search harder.
"""

from __future__ import annotations

import bz2
import gzip
import json

import decoder_fixtures
from conftest import BOSTON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glinker.errors import DumpError
from glinker.types import EntityRecord
from kb_build.dump import check_dump_file, iter_lines
from kb_build.extract import Extractor, MalformedEntity, iter_extracted

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
EXTRACTOR = Extractor(languages=("en", "de"))
REAL_LINES = [json.dumps(e, ensure_ascii=False).encode() for e in BOSTON]
KEYS = ["id", "type", "labels", "descriptions", "aliases", "claims", "sitelinks", "en", "de", "mul", "value",
        "P31", "P279", "mainsnak", "datavalue", "snaktype", "rank", "numeric-id", "entity-type", "lemmas"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=8,
)


def outcome(line: bytes) -> str:
    """What the extractor makes of one line: a record, a filter reason, or "malformed"; anything else fails."""
    try:
        out = EXTRACTOR.extract(line)
    except MalformedEntity as exc:
        assert str(exc) and "\n" not in str(exc)
        return "malformed"
    assert isinstance(out, EntityRecord) or out in {"property", "lexeme", "other_type", "disambiguation",
                                                    "scholarly_article", "category_or_template", "no_label"}
    return "record" if isinstance(out, EntityRecord) else out


def json_syntax_ok(line: bytes) -> bool:
    """Independent oracle: is the line JSON at all (bytes taken as latin-1, so UTF-8 errors do not count)?"""
    def no_constants(name: str) -> None:
        raise ValueError(name)  # NaN / Infinity are not JSON

    try:
        json.loads(line.decode("latin-1"), parse_constant=no_constants)
    except ValueError:
        return False
    return True


def paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from paths(child, (*prefix, key))


@st.composite
def byte_mutants(draw) -> bytes:
    line = bytearray(draw(st.sampled_from(REAL_LINES)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(line) - 1)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        if op == "delete":
            del line[i : i + draw(st.integers(1, 12))]
        elif op == "insert":
            line[i:i] = draw(st.binary(min_size=1, max_size=6))
        elif op == "replace" and line:
            line[i] = draw(st.integers(0, 255))
        else:
            del line[i:]
    return bytes(line)


@st.composite
def tree_mutants(draw) -> bytes:
    entity = json.loads(draw(st.sampled_from(REAL_LINES)))
    where = draw(st.sampled_from(list(paths(entity))[1:]))
    node = entity
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = draw(JSON_VALUES)
    return json.dumps(entity).encode()


LINES = st.one_of(st.sampled_from(REAL_LINES), st.binary(max_size=120), byte_mutants(), tree_mutants())


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_extractor(line):
    if outcome(line) != "malformed":
        assert json_syntax_ok(line)


@FUZZ
@given(st.one_of(byte_mutants(), tree_mutants()))
def test_mutated_entity_lines_never_crash_the_extractor(line):
    result = outcome(line)
    if not json_syntax_ok(line):
        assert result == "malformed"


def cleaned(raw: bytes) -> bytes | None:
    """The documented per-line cleaning of kb_build.dump (None: a line the reader skips)."""
    line = raw.strip()
    if line.endswith(b","):
        line = line[:-1].rstrip()
    return None if line in (b"", b"[", b"]") else line


@FUZZ
@given(lines=st.lists(LINES.map(lambda b: b.replace(b"\n", b" ")), min_size=1, max_size=25),
       compression=st.sampled_from(["json", "json.gz", "json.bz2"]), batch_lines=st.integers(1, 7))
def test_every_bad_line_is_reported_with_its_number(tmp_path, lines, compression, batch_lines):
    data = b"[\n" + b",\n".join(lines) + b"\n]\n"  # line 1 is "[": entity k is on line k + 2
    compress = {"json": bytes, "json.gz": gzip.compress, "json.bz2": bz2.compress}[compression]
    path = tmp_path / f"fuzz.{compression}"
    path.write_bytes(compress(data))
    expected = {}
    for line_no, raw in enumerate(data.split(b"\n"), 1):
        line = cleaned(raw)
        if line is not None:
            expected[line_no] = outcome(line)
    malformed, kept, filtered = [], 0, 0
    for result in iter_extracted(path, EXTRACTOR, batch_lines=batch_lines, threads=1):
        malformed.extend(result.malformed)
        kept += len(result.records)
        filtered += sum(result.filtered.values())
    assert [n for n, _ in malformed] == [n for n, o in expected.items() if o == "malformed"]
    assert all(message and "\n" not in message for _, message in malformed)
    assert kept == sum(o == "record" for o in expected.values())
    assert kept + filtered + len(malformed) == len(expected)  # every entity line is accounted for once
    bad = {n for n, _ in malformed}
    assert not [k for k, line in enumerate(lines) if line in REAL_LINES and k + 2 in bad]




decoders = decoder_fixtures.decoders  # runs a test with the parallel and the stdlib decoders
DUMP = b"[\n" + b",\n".join(REAL_LINES * 20) + b"\n]\n"
COMPRESSED = {"json.gz": gzip.compress(DUMP), "json.bz2": bz2.compress(DUMP)}


@FUZZ
@given(suffix=st.sampled_from(list(COMPRESSED)), edits=st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.floats(0, 1), st.integers(0, 255)),
    min_size=1, max_size=3))
def test_damaged_compressed_streams_raise_dump_error_only(tmp_path, decoders, suffix, edits):
    data = bytearray(COMPRESSED[suffix])
    for op, where, value in edits:
        if not data:
            break  # an empty file: nothing left to damage (it is "not gzip" / "not bzip2")
        i = min(int(where * len(data)), len(data) - 1)
        if op == "flip":
            data[i] ^= 1 << (value % 8)
        elif op == "cut":
            del data[max(i, 2):]
        elif op == "insert":
            data[i:i] = bytes([value]) * (1 + value % 5)
        else:
            del data[i : i + 1 + value % 20]
    path = tmp_path / f"damaged.{suffix}"
    path.write_bytes(bytes(data))
    try:
        check_dump_file(path)  # as kb_build does first: a damaged magic number makes it "not gzip"
        lines = list(iter_lines(path, threads=1))
    except DumpError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:  # an edit the container cannot see (e.g. in a gzip header field): the data must still be whole
        assert [line for _, line in lines] == REAL_LINES * 20
