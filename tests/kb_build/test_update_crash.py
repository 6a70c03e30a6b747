"""A KB update or compaction SIGKILLed at any step leaves the previous version whole and readable, and
running it again completes it (the kill comes from ``GLINKER_KB_KILL_AT``, in a forked child)."""

# ruff: noqa: F811  (test arguments named like the imported fixture `demo`)
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal

import pytest
from update_fixtures import demo, demo_lines  # noqa: F401  (demo: a fixture)

from glinker.kb import KnowledgeBase
from glinker.kb.manifest import read_manifest
from glinker.kb.versions import KILL_ENV
from kb_build.compact import compact_kb
from kb_build.update import update_kb

UPDATE_STEPS = ["embedded", "indexed", "overlay_written", "delta_published", "published"]
COMPACT_STEPS = ["compact_vectors", "compact_published", "compact_manifest"]


def _killed_run(step: str, fn, *args, **kwargs) -> None:
    def child() -> None:
        import torch

        torch.set_num_threads(1)  # the parent's intra-op pool does not survive fork
        os.environ[KILL_ENV] = step
        fn(*args, **kwargs)
        os._exit(0)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(120)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f"the child stuck at {step}")
    assert proc.exitcode == -signal.SIGKILL, f"the run was not killed at {step} (exit {proc.exitcode})"


def snapshot(kb: KnowledgeBase, qids: list[str]) -> dict:
    return {q: kb.store.get_raw(q) for q in qids} | {"__len__": len(kb.store)}


@pytest.mark.parametrize("step", UPDATE_STEPS)
def test_killed_update_leaves_version_n_and_a_rerun_completes_it(demo, tiny_detector, tmp_path, step):
    kb_dir = tmp_path / "kb"
    shutil.copytree(demo["part"], kb_dir)
    changes = tmp_path / "changes.jsonl"
    held = demo["held"][:40]
    changes.write_text("\n".join(demo["changes"].read_text().splitlines()[:40]) + "\n")
    deleted = json.loads(demo_lines()[0])["id"]
    (tmp_path / "del.txt").write_text(deleted + "\n")
    kwargs = dict(changes=str(changes), deletions=str(tmp_path / "del.txt"), compact_share=None, progress=False)
    reader = KnowledgeBase.open(kb_dir)
    before = snapshot(reader, held + [deleted])
    _killed_run(step, update_kb, kb_dir, tiny_detector, **kwargs)
    published = step == "published"  # killed after the manifest was replaced: version 1 is whole
    assert read_manifest(kb_dir).get("version", 0) == (1 if published else 0)
    assert snapshot(reader, held + [deleted]) == before  # the open reader still answers as version 0
    fresh = KnowledgeBase.open(kb_dir)
    if not published:
        assert snapshot(fresh, held + [deleted]) == before
    again = update_kb(kb_dir, tiny_detector, **kwargs)
    assert again["version"]["to"] == 1
    assert again["counts"]["added"] == (0 if published else 40)
    assert reader.refresh() and reader.version == 1
    full = KnowledgeBase.open(demo["full"])
    for q in held:
        assert reader.store.get(q).label == full.store.get(q).label
    assert reader.store.get(deleted) is None and len(reader.store) == before["__len__"] + 39
    leftovers = [p.name for p in kb_dir.iterdir() if ".partial-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("step", COMPACT_STEPS)
def test_killed_compaction_leaves_the_updated_version(demo, tiny_detector, tmp_path, step):
    kb_dir = tmp_path / "kb"
    shutil.copytree(demo["part"], kb_dir)
    update_kb(kb_dir, tiny_detector, changes=str(demo["changes"]), compact_share=None, progress=False)
    reader = KnowledgeBase.open(kb_dir)
    before = snapshot(reader, demo["held"])
    _killed_run(step, compact_kb, kb_dir, progress=False)
    done = step == "compact_manifest"
    assert read_manifest(kb_dir)["version"] == (2 if done else 1)
    assert snapshot(KnowledgeBase.open(kb_dir), demo["held"]) == before or done
    compact_kb(kb_dir, progress=False)
    assert read_manifest(kb_dir)["version"] == 2 and "delta" not in read_manifest(kb_dir)
    full = KnowledgeBase.open(demo["full"])
    assert reader.refresh()
    assert all(reader.store.get_raw(q) == full.store.get_raw(q) for q in demo["held"])
