"""kb_build refuses a mislabelled dump before any work, and a truncated one before embedding anything."""

from __future__ import annotations

import bz2
import gzip
import json

import decoder_fixtures
import numpy as np
import pytest
from conftest import BOSTON, make_entity

import kb_build.dump as dump
from glinker.errors import DumpError
from kb_build.build import build_kb
from kb_build.dump import check_dump_file, iter_lines


class CountingEncoder:
    """The real tiny detector, counting how many texts the build asks it to embed."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.name, self.fingerprint, self.dim = detector.name, detector.fingerprint, detector.dim
        self.texts = 0

    def encode_texts_pooled(self, texts, batch_size=64, precision="fp32"):
        self.texts += len(texts)
        return self.detector.encode_texts_pooled(texts, batch_size=batch_size, precision=precision)


def assert_nothing_left(tmp_path, name: str = "kb") -> None:
    assert not (tmp_path / name).exists()
    assert not list(tmp_path.glob(f".{name}.*")), "a temporary build folder was left behind"


def dump_text(entities) -> bytes:
    return ("[\n" + ",\n".join(json.dumps(e) for e in entities) + "\n]\n").encode()


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("random.json.gz", lambda: np.random.default_rng(1).bytes(5000),
         r"random\.json\.gz is not gzip \(starts with bytes [0-9a-f ]+: no gzip or bzip2 header\): rename it"),
        ("bz.json.gz", lambda: bz2.compress(dump_text(BOSTON)),
         r"bz\.json\.gz is not gzip \(starts with bytes 42 5a 68 .*bzip2 data\): rename it to bz\.json\.bz2"),
        ("gz.json", lambda: gzip.compress(dump_text(BOSTON)),
         r"gz\.json is not plain JSON \(starts with bytes 1f 8b .*gzip data\): rename it to gz\.json\.gz"),
        ("plain.json.bz2", lambda: dump_text(BOSTON),
         r"plain\.json\.bz2 is not bzip2 \(starts with bytes 5b 0a .*\): rename it without \.bz2"),
        ("empty.json.gz", lambda: b"", r"empty\.json\.gz is not gzip \(an empty file"),
    ],
)
def test_mislabelled_dump_is_refused_before_any_work(tmp_path, tiny_detector, name, content, says):
    path = tmp_path / name
    path.write_bytes(content())
    encoder = CountingEncoder(tiny_detector)
    with pytest.raises(DumpError, match=says) as info:
        build_kb(path, tmp_path / "kb", encoder, progress=False)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert encoder.texts == 0
    assert_nothing_left(tmp_path)


def test_matching_suffixes_and_unknown_ones_pass(tmp_path):
    data = dump_text(BOSTON)
    for name, blob, fmt in [("a.json.gz", gzip.compress(data), "gzip"), ("a.json.bz2", bz2.compress(data), "bzip2"),
                            ("a.json", data, "plain JSON"), ("a.ndjson", data, "plain JSON"),
                            ("a.dump", gzip.compress(data), "gzip")]:  # no promise in the name: the bytes decide
        (tmp_path / name).write_bytes(blob)
        assert check_dump_file(tmp_path / name) == fmt




decoders = decoder_fixtures.decoders  # runs a test with the parallel and the stdlib decoders
COMPRESS = {"json.gz": gzip.compress, "json.bz2": lambda data: bz2.compress(data, 1)}  # 100 kB bzip2 blocks


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_truncated_dump_fails_before_anything_is_embedded(tmp_path, tiny_detector, monkeypatch, suffix, decoders):
    # Small read blocks and batches: a streaming decoder hands many batches of whole entities on
    # before it reaches the cut, so a build that embedded while reading would have embedded them.
    monkeypatch.setattr(dump, "BLOCK_SIZE", 4096)
    entities = [make_entity(f"Q{i}", f"entity {i}", f"thing number {i}", p31=["Q5"]) for i in range(1, 700)]
    data = COMPRESS[suffix](dump_text(entities))
    good, cut = tmp_path / f"good.{suffix}", tmp_path / f"cut.{suffix}"
    good.write_bytes(data)
    cut.write_bytes(data[: len(data) * 3 // 5])
    read_before_error = 0
    with pytest.raises(DumpError):
        for _ in iter_lines(cut, threads=1):
            read_before_error += 1
    if decoders == "stdlib-decoders":  # the parallel decoders read this small file in one chunk: error at once
        assert read_before_error > 200

    encoder = CountingEncoder(tiny_detector)
    with pytest.raises(DumpError) as info:
        build_kb(cut, tmp_path / "kb", encoder, progress=False, batch_lines=50, threads=1)
    message = str(info.value)
    assert str(cut) in message and "truncated" in message and "\n" not in message
    assert encoder.texts == 0
    assert_nothing_left(tmp_path)

    # the same build of the whole dump does embed, through the same encoder
    manifest = build_kb(good, tmp_path / "kb", encoder, progress=False, batch_lines=50, threads=1)
    assert encoder.texts == manifest["counts"]["kept"] == len(entities)
    assert not list((tmp_path / "kb").glob("texts.staged"))  # the staged texts are not part of the KB
