"""Tests for kb_build.dump and kb_build.decompress: reading plain / gzip / bzip2 dumps and reporting damage."""

from __future__ import annotations

import bz2
import functools
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import decoder_fixtures
import pytest

import kb_build.dump as dump
from glinker.errors import DumpError
from glinker.settings import PROJECT_ROOT, data_dir
from kb_build.dump import iter_line_batches, iter_lines, open_dump

COMPRESSORS = {"json": lambda b: b, "json.gz": gzip.compress, "json.bz2": bz2.compress}


def shared_file(relative: str) -> Path:
    path = data_dir() / relative
    if not path.exists():
        pytest.skip(f"shared data not found at {path}: set GLINKER_DATA_DIR")
    return path


def entity_line(i: int) -> bytes:
    return json.dumps(
        {"type": "item", "id": f"Q{i}", "labels": {"en": {"language": "en", "value": f"e{i}"}}},
        separators=(",", ":"),
    ).encode()


def dump_bytes(entities: list[bytes], brackets: bool = True, newline: bytes = b"\n") -> bytes:
    body = (b"," + newline).join(entities)
    if brackets:
        return b"[" + newline + body + newline + b"]" + newline
    return body + newline


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    suffix = name.split(".", 1)[1] if "." in name else "json"
    path = tmp_path / name
    path.write_bytes(COMPRESSORS.get(suffix, lambda b: b)(data))
    return path


decoders = decoder_fixtures.decoders  # runs a test with the parallel and the stdlib decoders


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_iter_lines_all_compressions(tmp_path, suffix, decoders):
    entities = [entity_line(i) for i in range(1, 6)]
    path = write(tmp_path, f"d.{suffix}", dump_bytes(entities))
    got = list(iter_lines(path, threads=2))
    # line 1 is "[", entities are lines 2..6, line 7 is "]"
    assert got == [(i + 2, e) for i, e in enumerate(entities)]


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_no_brackets_blank_lines_and_crlf(tmp_path, suffix):
    entities = [entity_line(i) for i in range(3)]
    data = b"\n" + entities[0] + b",\r\n\r\n  " + entities[1] + b" ,\r\n" + entities[2]
    path = write(tmp_path, f"d.{suffix}", data)  # no trailing newline on the last line
    assert list(iter_lines(path)) == [(2, entities[0]), (4, entities[1]), (5, entities[2])]


def test_compression_detected_from_magic_bytes(tmp_path):
    entities = [entity_line(i) for i in range(3)]
    gz_named_json = tmp_path / "really-gzip.json"
    gz_named_json.write_bytes(gzip.compress(dump_bytes(entities)))
    bz_named_gz = tmp_path / "really-bz2.json.gz"
    bz_named_gz.write_bytes(bz2.compress(dump_bytes(entities)))
    for path in (gz_named_json, bz_named_gz):
        assert [line for _, line in iter_lines(path)] == entities


def test_lines_longer_than_a_block(tmp_path, monkeypatch):
    monkeypatch.setattr(dump, "BLOCK_SIZE", 64)
    entities = [entity_line(i) + b" " * (i * 37) for i in range(20)]
    path = write(tmp_path, "d.json.gz", dump_bytes(entities))
    assert [line for _, line in iter_lines(path)] == [e.strip() for e in entities]


def naive_entity_lines(data: bytes) -> list[tuple[int, bytes]]:
    """The documented contract of iter_lines, written the slow obvious way."""
    out = []
    for line_no, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip()
        if line.endswith(b","):
            line = line[:-1].rstrip()
        if line not in (b"", b"[", b"]"):
            out.append((line_no, line))
    return out


@pytest.mark.parametrize("block_size", [40, 100, 333, 1 << 22])
def test_lines_and_blocks_match_the_documented_cleaning(tmp_path, monkeypatch, block_size):
    # Official layout with irregular stretches (CR LF, blank lines, spaces around commas,
    # lines without comma, a lone comma), cut into blocks of several sizes.
    rng = random.Random(block_size)
    separators = [b",\n"] * 12 + [b",\r\n", b",\n\n", b" ,\n", b",\n  ", b"\n", b",\n,\n", b",\t\n", b",\x0c\n"]
    body = b"".join(entity_line(i) + rng.choice(separators) for i in range(300))
    data = b"[\n" + body + b"]\n"
    monkeypatch.setattr(dump, "BLOCK_SIZE", block_size)
    path = write(tmp_path, "d.json.gz", data)
    expected = naive_entity_lines(data)
    assert list(iter_lines(path)) == expected
    assert [item for first, block in dump.iter_line_blocks(path) for item in dump.block_lines(first, block)] == expected


def test_iter_line_batches_matches_iter_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(dump, "BLOCK_SIZE", 100)  # many blocks, batches across block borders
    entities = [entity_line(i) for i in range(103)]
    path = write(tmp_path, "d.json.bz2", dump_bytes(entities))
    batches = list(iter_line_batches(path, batch_lines=10))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert [item for b in batches for item in b] == list(iter_lines(path))
    with pytest.raises(ValueError):
        next(iter_line_batches(path, batch_lines=0))


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_open_dump_gives_decompressed_bytes(tmp_path, suffix):
    data = dump_bytes([entity_line(i) for i in range(50)])
    path = write(tmp_path, f"d.{suffix}", data)
    with open_dump(path, threads=1) as f:
        assert f.readline() == b"[\n"
        assert f.read() == data[2:]


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.json.gz"
    with pytest.raises(DumpError, match=r"^dump not found: .*nope\.json\.gz$"):
        list(iter_lines(missing))
    with pytest.raises(DumpError, match="dump not found"):
        open_dump(missing)


def test_directory_and_unsupported_compression(tmp_path):
    with pytest.raises(DumpError, match="cannot open dump"):
        open_dump(tmp_path)
    zst = tmp_path / "d.json.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(DumpError, match="zstd-compressed"):
        list(iter_lines(zst))


@functools.cache
def big_dump(n: int = 40_000) -> bytes:
    """About 3 MB of poorly compressible entities: several gzip chunks and bzip2 blocks."""
    rng = random.Random(7)
    entities = [
        b'{"type":"item","id":"Q%d","labels":{"en":{"language":"en","value":"%s"}}}'
        % (i, rng.randbytes(24).hex().encode())
        for i in range(n)
    ]
    return dump_bytes(entities)


@functools.cache
def big_compressed(suffix: str) -> bytes:
    return COMPRESSORS[suffix](big_dump())


def flip_middle(data: bytes) -> bytes:
    damaged = bytearray(data)
    middle = len(damaged) // 2
    for k in range(16):
        damaged[middle + k] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize("suffix", ["json.gz", "json.bz2"])
@pytest.mark.parametrize("damage", ["cut-last-third", "cut-half", "cut-last-byte", "flip-middle"])
def test_truncated_or_corrupt_stream_raises_dump_error(tmp_path, suffix, damage, decoders):
    # "cut-half" of the gzip file is a case where rapidgzip 0.16 stops silently
    # instead of raising; the reader's end-of-stream check must catch it.
    compressed = big_compressed(suffix)
    if damage == "cut-last-third":
        compressed = compressed[: len(compressed) * 2 // 3]
    elif damage == "cut-half":
        compressed = compressed[: len(compressed) // 2]
    elif damage == "cut-last-byte":
        compressed = compressed[:-1]
    else:
        compressed = flip_middle(compressed)
    path = tmp_path / f"damaged.{suffix}"
    path.write_bytes(compressed)
    with pytest.raises(DumpError) as info:
        for _ in iter_lines(path, threads=2):
            pass
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "truncated or corrupt" in message and "re-download" in message
    with pytest.raises(DumpError):
        with open_dump(path, threads=2) as f:
            f.read()


@pytest.mark.parametrize("suffix", ["json.gz", "json.bz2"])
@pytest.mark.parametrize("keep", [9, 20])
def test_header_only_file_raises(tmp_path, suffix, keep, decoders):
    # indexed_bzip2 1.7 returns no data and no error for a bzip2 file cut to <= 9 bytes.
    compressed = COMPRESSORS[suffix](big_dump(2000))
    path = tmp_path / f"stub.{suffix}"
    path.write_bytes(compressed[:keep])
    with pytest.raises(DumpError, match="truncated or corrupt"):
        list(iter_lines(path))


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_empty_dump_has_no_lines(tmp_path, suffix, decoders):
    path = write(tmp_path, f"empty.{suffix}", b"")
    assert list(iter_lines(path)) == []
    path = write(tmp_path, f"brackets.{suffix}", b"[\n]\n")
    assert list(iter_lines(path)) == []


def test_plain_json_cut_mid_line_is_not_a_dump_error(tmp_path):
    data = dump_bytes([entity_line(i) for i in range(5)])
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) - 20])
    lines = list(iter_lines(path))
    assert len(lines) == 5
    cut = lines[-1][1]  # handed on as is; the extractor reports it as malformed
    assert entity_line(4).startswith(cut) and cut != entity_line(4)
    with pytest.raises(ValueError):
        json.loads(cut)


def test_abandoned_generator_does_not_abort_interpreter(tmp_path):
    # A rapidgzip file still open at exit aborts the process (SIGABRT) unless closed.
    path = write(tmp_path, "d.json.gz", big_dump(5000))
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from kb_build.dump import iter_lines;"
        "it = iter_lines(sys.argv[1], threads=2); next(it); print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- shared data -----------------------------------------------------------------


def test_arnold_dump_line_count():
    path = shared_file("wikidata/arnold/arnold-dump.json.gz")
    count = 0
    last = 0
    for line_no, line in iter_lines(path):
        count += 1
        last = line_no
        assert line[:1] == b"{" and line[-1:] == b"}"
    # 66,786 lines: "[", 66,784 entities, "]"
    assert count == 66_784
    assert last == 66_785


@pytest.mark.parametrize(
    "relative, expected",
    [
        ("wikidata/opentapioca/short_stream.json.bz2", 635),
        ("wikidata/opentapioca/sample_wikidata_items.json.bz2", 100),
        ("wikidata/wdtk/sample-dump-20150815.json.gz", 101),
    ],
)
def test_shared_samples_line_counts(relative, expected):
    path = shared_file(relative)
    lines = list(iter_lines(path))
    assert len(lines) == expected
    assert all(line.startswith(b"{") and line.endswith(b"}") for _, line in lines)
