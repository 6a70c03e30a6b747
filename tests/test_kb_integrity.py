"""A truncated or corrupt KB file is one clear KBError when the KB is opened, never a signal-killed process.

Each file kind (LMDB store, FAISS index, .npy vectors) is cut in half or overwritten with random
bytes of the same length, in a KB whose manifest records file sizes and in one whose manifest
does not (KBs built before sizes were recorded). A truncated LMDB is opened in a child process:
before the check, mapping a cut data.mdb killed the process with SIGBUS, which would take the
test runner down with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BOSTON

from glinker.errors import KBError
from glinker.kb import KnowledgeBase
from glinker.kb.manifest import KB_FILES
from glinker.settings import PROJECT_ROOT
from kb_build.build import build_kb

KEPT = len(BOSTON) - 2  # the disambiguation page and the label-less item are filtered


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, tiny_detector):
    root = tmp_path_factory.mktemp("integrity")
    from conftest import write_dump

    dump = write_dump(root / "boston.json.gz", BOSTON)
    build_kb(dump, root / "kb", tiny_detector, progress=False)
    return root / "kb"


@pytest.fixture
def kb_copy(pristine, tmp_path):
    """A fresh copy of the built KB, to damage."""
    out = tmp_path / "kb"
    shutil.copytree(pristine, out)
    return out


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))


def forget_sizes(kb: Path) -> None:
    """Make the manifest look like one written before file sizes were recorded."""
    mf = kb / "manifest.json"
    manifest = json.loads(mf.read_text())
    del manifest["files"]
    mf.write_text(json.dumps(manifest))


def open_in_child(kb: Path) -> subprocess.CompletedProcess:
    code = ("import sys; from glinker.errors import KBError; from glinker.kb import KnowledgeBase\n"
            "try:\n    KnowledgeBase.open(sys.argv[1])\nexcept KBError as exc:\n    print(exc); sys.exit(3)\n"
            "print('opened')")
    return subprocess.run([sys.executable, "-c", code, str(kb)], capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"))


def assert_clear(message: str, path: Path) -> None:
    assert "\n" not in message.strip()
    assert str(path) in message and "truncated or corrupt" in message
    assert "python -m kb_build dump=" in message and "boston.json.gz" in message  # the dump to rebuild from


def test_manifest_records_the_size_of_every_kb_file(pristine):
    files = json.loads((pristine / "manifest.json").read_text())["files"]
    assert set(files) == set(KB_FILES)
    assert files == {name: (pristine / name).stat().st_size for name in KB_FILES}


@pytest.mark.parametrize("sizes", [True, False], ids=["sizes", "no-sizes"])
@pytest.mark.parametrize("how", ["truncated", "random"])
@pytest.mark.parametrize("name", ["entities.lmdb/data.mdb", "entities.faiss", "embeddings.f16.npy",
                                  "sentence.f16.npy"])
def test_damaged_file_is_refused_at_open(kb_copy, name, how, sizes):
    damage(kb_copy / name, how)
    if not sizes:
        forget_sizes(kb_copy)
    if name.endswith(".mdb") and how == "truncated":
        res = open_in_child(kb_copy)
        assert res.returncode == 3, f"rc {res.returncode}: {res.stderr[-2000:]}"  # -7 would be SIGBUS
        message = res.stdout
    else:
        with pytest.raises(KBError) as info:
            KnowledgeBase.open(kb_copy)
        message = str(info.value)
    assert_clear(message, kb_copy / name)
    if sizes:
        assert ("the build wrote" in message) == (how == "truncated")


@pytest.mark.parametrize("sizes", [True, False], ids=["sizes", "no-sizes"])
@pytest.mark.parametrize("how", ["truncated", "random"])
def test_damaged_name_index_is_refused(kb_copy, how, sizes):
    path = kb_copy / "names.faiss"
    damage(path, how)
    if sizes:  # refused at open, from the recorded size (truncation) ...
        if how == "truncated":
            with pytest.raises(KBError) as info:
                KnowledgeBase.open(kb_copy)
            assert_clear(str(info.value), path)
            return
    else:
        forget_sizes(kb_copy)
    kb = KnowledgeBase.open(kb_copy)  # ... else when first used: it is opened lazily
    with pytest.raises(KBError) as info:
        _ = kb.name_index
    assert_clear(str(info.value), path)
    kb.store.close()


def test_lmdb_cut_past_its_last_page_is_refused_without_sizes(kb_copy):
    # cut a single page: the size is plausible, LMDB's meta page says more pages were written
    forget_sizes(kb_copy)
    data = kb_copy / "entities.lmdb" / "data.mdb"
    data.write_bytes(data.read_bytes()[:-4096])
    res = open_in_child(kb_copy)
    assert res.returncode == 3, f"rc {res.returncode}: {res.stderr[-2000:]}"
    assert "its pages reach byte" in res.stdout
    assert_clear(res.stdout, data)


def test_entity_count_is_read_and_compared(kb_copy):
    mf = kb_copy / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["counts"]["kept"] += 1
    mf.write_text(json.dumps(manifest))
    with pytest.raises(KBError, match=f"holds {KEPT} entities and {KEPT} rows, the manifest {KEPT + 1}"):
        KnowledgeBase.open(kb_copy)


def test_vectors_of_the_wrong_shape_are_refused(kb_copy):
    forget_sizes(kb_copy)  # a well-formed .npy of the wrong length: only the header check can see it
    path = kb_copy / "sentence.f16.npy"
    rows = np.load(path)
    np.save(path, rows[:-1])
    with pytest.raises(KBError, match=r"shape \(7, 32\), the manifest says \(8, 32\)"):
        KnowledgeBase.open(kb_copy)
    np.save(path, rows.astype(np.float32))
    with pytest.raises(KBError, match="float32"):
        KnowledgeBase.open(kb_copy)


def test_missing_listed_file_is_named(kb_copy):
    (kb_copy / "embeddings.f16.npy").unlink()
    with pytest.raises(KBError, match="embeddings.f16.npy is missing"):
        KnowledgeBase.open(kb_copy)


def test_failed_open_leaves_the_store_reopenable(kb_copy):
    # LMDB refuses a second open of an environment still open in the process: a refused KB must close it
    path = kb_copy / "embeddings.f16.npy"
    good = path.read_bytes()
    damage(path, "random")
    with pytest.raises(KBError):
        KnowledgeBase.open(kb_copy)
    path.write_bytes(good)
    kb = KnowledgeBase.open(kb_copy)
    assert len(kb.store) == KEPT and kb.store.lookup_alias("Boston")[0] == "Q100"


def test_link_cli_reports_a_truncated_store_in_one_line(kb_copy, tiny_model_dir):
    data = kb_copy / "entities.lmdb" / "data.mdb"
    damage(data, "truncated")
    res = subprocess.run([sys.executable, "-m", "glinker.link", f"kb_dir={kb_copy}",
                          f"detector.model={tiny_model_dir}", "text=Boston is a city."],
                         capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 2, f"rc {res.returncode}: {res.stderr[-2000:]}"
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = [line for line in res.stderr.splitlines() if "data.mdb" in line]
    assert len(lines) == 1
    assert_clear(lines[0], data)
