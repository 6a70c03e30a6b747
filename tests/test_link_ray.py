"""``python -m glinker.link engine=ray``: the same JSONL as the local engine, in input order, bad lines reported."""

from __future__ import annotations

import json

import pytest
from conftest import BOSTON, write_dump
from test_cli import run

pytest.importorskip("ray", reason="engine=ray needs Ray: pip install -e '.[distributed]'")

TEXTS = [
    "Arnold Schwarzenegger lived in Boston.",
    "The Celtics beat Boston College.",
    "Boston is the capital of Massachusetts.",
    "Arnold moved to Graz.",
    "Boston Celtics fans met in Boston.",
    "Nothing to see here.",
    "Schwarzenegger and the Celtics.",
]


def test_ray_engine_writes_what_the_local_engine_writes(tmp_path, tiny_model_dir):
    dump = write_dump(tmp_path / "boston.json.gz", BOSTON)
    kb = tmp_path / "kb"
    res = run("kb_build", f"dump={dump}", f"output_dir={kb}", f"model={tiny_model_dir}", "progress=false")
    assert res.returncode == 0, res.stderr.decode()
    lines = [json.dumps({"id": f"d{i}", "text": t, "source": "test"}) for i, t in enumerate(TEXTS)]
    lines.insert(3, "{not json")  # a bad line: reported, skipped, exit code 2, the rest still written
    inp = tmp_path / "docs.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    common = [f"kb_dir={kb}", f"detector.model={tiny_model_dir}", f"input={inp}", "candidates=2",
              "labels=[person,location,organization]"]

    local = run("glinker.link", *common, f"output={tmp_path / 'local.jsonl'}")
    remote = run("glinker.link", *common, f"output={tmp_path / 'ray.jsonl'}", "engine=ray", "ray.actors=2",
                 "ray.docs_per_call=2")

    assert local.returncode == 2 and remote.returncode == 2, remote.stderr.decode()[-3000:]
    assert b"docs.jsonl line 4" in remote.stderr
    rows_local = [json.loads(x) for x in (tmp_path / "local.jsonl").read_text().splitlines()]
    rows_ray = [json.loads(x) for x in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows_ray] == [f"d{i}" for i in range(len(TEXTS))]  # input order, across actors
    assert all(r["source"] == "test" for r in rows_ray)  # other keys pass through
    # same mentions and links (scores may differ in the last float digits: other batch compositions)
    def key(rows):
        return [[(m["start"], m["end"], m["label"], m["qid"]) for m in r["mentions"]] for r in rows]

    assert key(rows_ray) == key(rows_local)
    assert any(r["mentions"] for r in rows_ray)


def test_ray_engine_unknown_engine_is_a_clear_error(tmp_path, tiny_model_dir):
    res = run("glinker.link", f"detector.model={tiny_model_dir}", "text=Boston", "engine=spark")
    assert res.returncode == 2
    assert b"engine='spark' is not known" in res.stderr
