"""Document input (text, folder, JSONL, stdin) and atomic JSONL output."""

from __future__ import annotations

import io

import orjson
import pytest

from glinker.errors import InputError
from glinker.io import BadDocument, JsonlWriter, read_documents


def test_text_file_folder_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("Hello Boston.", encoding="utf-8")
    sub = tmp_path / "dir"
    sub.mkdir()
    (sub / "x.txt").write_text("one", encoding="utf-8")
    (sub / "y.txt").write_text("two", encoding="utf-8")
    jl = tmp_path / "d.jsonl"
    jl.write_bytes(b'{"id": "d1", "text": "first", "lang": "en"}\n\n{"text": "no id"}\n')
    (doc,) = read_documents(tmp_path / "a.txt")
    assert (doc.id, doc.text) == ("a.txt", "Hello Boston.")
    assert [d.id for d in read_documents(sub)] == ["x.txt", "y.txt"]
    docs = list(read_documents(jl))
    assert [(d.id, d.text) for d in docs] == [("d1", "first"), ("3", "no id")]
    assert docs[0].meta == {"lang": "en"}


def test_stdin_text_and_jsonl():
    (doc,) = read_documents("-", stdin=io.BytesIO("Grüße aus Zürich".encode()))
    assert doc.text == "Grüße aus Zürich"
    docs = list(read_documents("-", stdin=io.BytesIO(b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n')))
    assert [d.id for d in docs] == ["1", "2"]


def test_bad_documents_are_reported_with_location(tmp_path):
    jl = tmp_path / "bad.jsonl"
    jl.write_bytes(b'{"id": "ok", "text": "fine"}\n{"id": "e", "text": "  "}\n[1, 2]\n{"id": "n"}\n{oops\n')
    items = list(read_documents(jl))
    assert [type(i).__name__ for i in items] == ["Document", "BadDocument", "BadDocument", "BadDocument", "BadDocument"]
    msgs = [str(i) for i in items[1:]]
    assert "line 2" in msgs[0] and "empty document" in msgs[0]
    assert "line 3" in msgs[1]
    assert "line 4" in msgs[2] and "'text'" in msgs[2]
    assert "line 5" in msgs[3] and "not valid JSON" in msgs[3]


def test_invalid_utf8_names_file_and_byte(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    (item,) = read_documents(f)
    assert isinstance(item, BadDocument)
    assert str(f) in str(item) and "invalid UTF-8 at byte 3" in str(item)


def test_missing_input_raises(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(read_documents(tmp_path / "missing.jsonl"))
    with pytest.raises(InputError, match="no .txt files"):
        (tmp_path / "empty").mkdir()
        list(read_documents(tmp_path / "empty"))


def test_writer_is_atomic_and_keeps_partial_results(tmp_path):
    out = tmp_path / "out.jsonl"
    w = JsonlWriter(out)
    w.write({"id": "a"})
    assert not out.exists()  # nothing appears until the run succeeds
    w.close()
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == [{"id": "a"}]
    w = JsonlWriter(tmp_path / "fail.jsonl")
    w.write({"id": "b"})
    w.close(success=False)
    assert not (tmp_path / "fail.jsonl").exists()
    assert (tmp_path / "fail.jsonl.partial").read_bytes().strip() == b'{"id":"b"}'
