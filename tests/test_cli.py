"""The two CLIs: end to end in subprocesses (dump → kb_build → glinker.link → JSONL), and each bad input
in-process through the same entry points (``main()``), which is what a console script calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOSTON, make_tiny_checkpoint, write_dump

ROOT = Path(__file__).resolve().parent.parent


def run(*args, stdin: bytes | None = None, timeout: int = 300):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=timeout, env=env)


class _Result:
    """What a command left: exit code and its stdout / stderr as bytes (the subprocess result's shape)."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capfd, monkeypatch):
    """Run ``python -m MODULE ARGS`` in this process: its ``main()`` with ``sys.argv`` set."""
    import io

    def call(module: str, *args: str, stdin: bytes | None = None) -> _Result:
        from glinker.link import main as link_main
        from kb_build.__main__ import main as kb_main

        main = {"glinker.link": link_main, "kb_build": kb_main}[module]
        monkeypatch.setattr(sys, "argv", [module, *args])
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        monkeypatch.chdir(ROOT)
        capfd.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capfd.readouterr()
        return _Result(code, out.encode(), err.encode())

    return call


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("cli")
    dump = write_dump(root / "boston.json.bz2", BOSTON)
    kb = root / "kb"
    res = run("kb_build", f"dump={dump}", f"output_dir={kb}", f"model={tiny_model_dir}", "progress=false")
    assert res.returncode == 0, res.stderr.decode()
    return root, kb


def test_kb_build_cli_summary(built):
    root, kb = built
    manifest = json.loads((kb / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == len(BOSTON) - 2
    assert manifest["source"]["dump"].endswith("boston.json.bz2")


def test_link_cli_jsonl_round_trip(built, tiny_model_dir):
    root, kb = built
    inp = root / "docs.jsonl"
    inp.write_text(json.dumps({"id": "d1", "text": "Arnold Schwarzenegger lived in Boston."}) + "\n"
                   + json.dumps({"id": "d2", "text": "The Celtics beat Boston College."}) + "\n")
    out = root / "out.jsonl"
    res = run("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}", f"input={inp}", f"output={out}",
              "candidates=3", "labels=[person,location]")
    assert res.returncode == 0, res.stderr.decode()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["d1", "d2"]
    assert any(r["mentions"] for r in rows), "the tiny model proposes spans in these texts"
    for r in rows:
        for m in r["mentions"]:
            assert r["text"][m["start"]:m["end"]] == m["text"]
            assert m["label"] in ("person", "location")
            assert "candidates" in m
    assert b"docs/s" in res.stderr  # logs go to stderr, results to the file


def test_link_cli_stdout_is_clean_jsonl(built, tiny_model_dir):
    root, kb = built
    res = run("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}", "input=-",
              stdin=b"Boston is a city.")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["id"] == "stdin"


def test_missing_kb_dir(tiny_model_dir, tmp_path, cli):
    res = cli("glinker.link", f"kb_dir={tmp_path / 'nokb'}", f"detector.model={tiny_model_dir}", "text=hi there")
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "KB directory not found" in err and "kb_build" in err and "Traceback" not in err


def test_kb_from_another_model_is_refused(built, tmp_path, cli):
    root, kb = built
    other = make_tiny_checkpoint(tmp_path / "other", seed=1)
    res = cli("glinker.link", f"kb_dir={kb}", f"detector.model={other}", "text=Boston")
    assert res.returncode == 2
    assert "was built with model 'tiny-0'" in res.stderr.decode()


def test_bad_documents_exit_nonzero_but_keep_good_output(built, tiny_model_dir, cli):
    root, kb = built
    inp = root / "mixed.jsonl"
    inp.write_bytes(b'{"id": "good", "text": "Boston"}\n{"id": "empty", "text": ""}\n')
    out = root / "mixed.out.jsonl"
    res = cli("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}", f"input={inp}", f"output={out}")
    assert res.returncode == 2
    assert "line 2: empty document 'empty'" in res.stderr.decode()
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["good"]


def test_invalid_utf8_input_file(built, tiny_model_dir, tmp_path, cli):
    root, kb = built
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Montr\xe9al".encode("latin-1"))
    res = cli("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}", f"input={bad}")
    assert res.returncode == 2
    assert f"{bad}: invalid UTF-8 at byte 5" in res.stderr.decode()


def test_unknown_option_is_rejected(cli):
    res = cli("glinker.link", "no_such_option=1", "text=x")
    assert res.returncode != 0
    assert "no_such_option" in res.stderr.decode()


def test_kb_build_bad_dump(tmp_path, tiny_model_dir, cli):
    res = cli("kb_build", f"dump={tmp_path / 'missing.json.gz'}", f"output_dir={tmp_path / 'kb'}",
              f"model={tiny_model_dir}")
    assert res.returncode == 2 and "dump not found" in res.stderr.decode()
    cut = tmp_path / "cut.json.gz"
    full = write_dump(tmp_path / "full.json.gz", BOSTON * 40)
    cut.write_bytes(full.read_bytes()[:-200])
    res = cli("kb_build", f"dump={cut}", f"output_dir={tmp_path / 'kb'}", f"model={tiny_model_dir}", "progress=false")
    assert res.returncode == 2
    assert str(cut) in res.stderr.decode() and not (tmp_path / "kb").exists()


def test_nothing_to_link_is_explained(tiny_model_dir, built, cli):
    root, kb = built
    res = cli("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}")
    assert res.returncode == 2 and "nothing to link" in res.stderr.decode()


README_STAGE = '''
from glinker.retrieval.candidates import AliasRetriever

class TypedAliasRetriever:
    def __init__(self, kb, allowed_types: list[str], top_k: int = 32):
        self.inner = AliasRetriever(kb, top_k=top_k)
        self.kb, self.allowed = kb, set(allowed_types)

    def retrieve(self, mentions, contexts):
        out = []
        for cands in self.inner.retrieve(mentions, contexts):
            recs = self.kb.store.get_many(c.qid for c in cands)
            out.append([c for c in cands if self.allowed & set(recs[c.qid].types)])
        return out
'''


def test_readme_custom_stage_example(built, tiny_model_dir, tmp_path):
    """The README's plug-in example works as written: only Q5 (human) candidates survive."""
    root, kb = built
    (tmp_path / "my_stages.py").write_text(README_STAGE)
    env_path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    res = subprocess.run(
        [sys.executable, "-m", "glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}",
         "text=Arnold Schwarzenegger and Boston", "retriever=alias", "retriever._target_=my_stages.TypedAliasRetriever",
         "+retriever.allowed_types=[Q5]", "reranker=none", "candidates=5"],
        cwd=ROOT, capture_output=True, timeout=300, env=dict(os.environ, PYTHONPATH=env_path, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr.decode()
    row = json.loads(res.stdout)
    assert any(m["candidates"] for m in row["mentions"]), "the typed retriever keeps Arnold Schwarzenegger"
    for m in row["mentions"]:
        for c in m["candidates"]:
            assert c["qid"] in ("Q2685", "Q42")  # the humans of the test KB


def test_empty_labels_refused(built, tiny_model_dir, cli):
    root, kb = built
    res = cli("glinker.link", f"kb_dir={kb}", f"detector.model={tiny_model_dir}", "text=Boston", "labels=[]")
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "labels=[]" in err and "Traceback" not in err
