"""Tests for kb_build.popularity.load_popularity."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from glinker.errors import InputError
from glinker.settings import data_dir
from kb_build.popularity import load_popularity


def shared_file(relative: str) -> Path:
    path = data_dir() / relative
    if not path.exists():
        pytest.skip(f"shared data not found at {path}: set GLINKER_DATA_DIR")
    return path


def write(path: Path, text: str) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["pop.tsv", "pop.tsv.gz", "pop-gzip-without-suffix.tsv"])
def test_tsv_with_header(tmp_path, name):
    text = "qid\tpagerank\tin_degree\nQ42\t1.5e-05\t12\nP31\t2.0\t3\n\nL7\t0\t0\n"
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(data if name == "pop.tsv" else gzip.compress(data))
    assert load_popularity(path) == {"Q42": 1.5e-05, "P31": 2.0, "L7": 0.0}


def test_tsv_without_header_and_crlf(tmp_path):
    path = write(tmp_path / "pop.tsv", "Q1\t3\r\nQ2\t4.5\r\n")
    assert load_popularity(str(path)) == {"Q1": 3.0, "Q2": 4.5}


def test_score_is_first_numeric_column_after_id(tmp_path):
    path = write(tmp_path / "pop.tsv", "id\ttitle\tscore\nQ1\tEarth\t7\nQ2\tMoon\t8\n")
    assert load_popularity(path) == {"Q1": 7.0, "Q2": 8.0}


def test_qrank_csv(tmp_path):
    path = write(tmp_path / "qrank.csv.gz", "\ufeffEntity,QRank\nQ31,19152883\nQ64,18524165\n")
    assert load_popularity(path) == {"Q31": 19152883.0, "Q64": 18524165.0}


def test_later_duplicate_wins(tmp_path):
    path = write(tmp_path / "pop.tsv", "Q1\t1\nQ1\t2\n")
    assert load_popularity(path) == {"Q1": 2.0}


@pytest.mark.parametrize(
    "text, match",
    [
        ("qid\tscore\nQ1\t1\nfoo\t2\n", r"line 3: 'foo' is not a Wikidata id"),
        ("Q1\t1\nQ2\tabc\n", r"line 2: score 'abc' is not a number"),
        ("Q1\t1\nQ2\n", r"line 2: expected at least 2 columns"),
        ("qid\tname\nQ1\tEarth\n", r"line 2: no numeric score column"),
        ("Q1\t1\nQ2\tnan\n", r"line 2: score 'nan' is not finite"),
        ("qid\tscore\nqid\tscore\n", r"line 2: 'qid' is not a Wikidata id"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, match):
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(InputError, match=match) as info:
        load_popularity(path)
    assert str(info.value).startswith(f"popularity file {path} line ")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="popularity file not found"):
        load_popularity(tmp_path / "none.tsv")
    data = gzip.compress(b"".join(b"Q%d\t%d\n" % (i, i) for i in range(20000)))
    cut = tmp_path / "cut.tsv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_popularity(cut)
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("qid\tscoré\nQ1\t1\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_popularity(latin1)


def test_empty_file(tmp_path):
    assert load_popularity(write(tmp_path / "empty.tsv", "")) == {}
    assert load_popularity(write(tmp_path / "header.tsv", "qid\tscore\n")) == {}


def test_arnold_popularity_table():
    table = load_popularity(shared_file("wikidata/arnold/arnold-popularity.tsv.gz"))
    assert len(table) == 65_481
    assert table["P6"] == pytest.approx(2.2876e-06)
    assert table["Q2685"] > table["P6"]
    assert all(key[0] in "QPL" for key in table)
