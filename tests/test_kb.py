"""KB build (real kb_build on a small dump), the LMDB store, the FAISS index and atomic publishing."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from conftest import BOSTON, make_entity, write_dump

from glinker.errors import DumpError, KBError
from glinker.kb import KnowledgeBase
from glinker.kb.index import default_factory
from glinker.kb.normalize import normalize_alias
from kb_build.build import build_kb, entity_text


@pytest.fixture
def boston_kb(tmp_path, boston_dump, tiny_detector):
    out = tmp_path / "kb"
    build_kb(boston_dump, out, tiny_detector, progress=False)
    return out


def test_build_counts_and_manifest(boston_kb, tiny_detector):
    manifest = json.loads((boston_kb / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == len(BOSTON)
    # the disambiguation page and the label-less item are filtered, each under its reason
    assert counts["filtered"] == {"disambiguation": 1, "no_label": 1}
    assert counts["kept"] == len(BOSTON) - 2
    assert manifest["model"]["fingerprint"] == tiny_detector.fingerprint
    assert manifest["index"]["ntotal"] == counts["kept"]
    assert manifest["template"] == "{label}: {description}"
    assert manifest["embeddings"]["dim"] == tiny_detector.dim


def test_build_counts_the_classes_the_kb_lacks_and_warns(tmp_path, boston_dump, tiny_detector, caplog):
    """Entities whose P31 classes are not in the KB get no type score at link time: the build says so."""
    with caplog.at_level("WARNING", logger="kb_build.classes"):
        build_kb(boston_dump, tmp_path / "kb", tiny_detector, progress=False)
    classes = json.loads((tmp_path / "kb" / "manifest.json").read_text())["counts"]["classes"]
    kept = [e for e in BOSTON if e["labels"] and e["id"] not in ("Q4167410", "Q999000001")]
    ids = {e["id"] for e in kept}
    refs = [c["mainsnak"]["datavalue"]["value"]["id"] for e in kept for c in e["claims"].get("P31", [])]
    assert classes == {"referenced": len(set(refs)), "missing": len(set(refs) - ids), "references": len(refs),
                       "references_missing": sum(r not in ids for r in refs)}
    assert classes["missing"] > 0
    assert "class the KB does not hold" in caplog.text


def test_alias_multimap_keeps_every_homonym_most_popular_first(boston_kb, tiny_detector):
    kb = KnowledgeBase.open(boston_kb, expect_fingerprint=tiny_detector.fingerprint)
    assert kb.store.lookup_alias("Boston") == ["Q100", "Q131371", "Q204289"]
    assert kb.store.lookup_alias("  BOSTON, ") == ["Q100", "Q131371", "Q204289"]
    assert kb.store.lookup_alias("celtics") == ["Q131371"]
    assert kb.store.lookup_alias("nowhere") == []
    rec = kb.store.get("Q2685")
    assert rec.label == "Arnold Schwarzenegger" and "The Governator" in rec.aliases and rec.types == ("Q5",)


def test_index_rows_map_back_to_entities(boston_kb, tiny_detector):
    kb = KnowledgeBase.open(boston_kb, expect_fingerprint=tiny_detector.fingerprint)
    rec = kb.store.get("Q162255")
    vec = tiny_detector.encode_texts([entity_text(rec, "{label}: {description}")])
    rows, scores = kb.index.search(vec, 3)
    # exact inner-product search: the entity's own vector scores like its stored fp16 copy
    stored = kb.entity_vectors(np.array([rec.row]))[0]
    assert kb.store.qids_for_rows([rec.row]) == ["Q162255"]
    assert np.allclose(stored, vec[0], atol=1e-2)
    assert kb.index.ntotal == len(kb.store)


def test_kb_built_with_another_model_is_refused(boston_kb):
    with pytest.raises(KBError, match="fingerprint"):
        KnowledgeBase.open(boston_kb, expect_fingerprint="0000000000000000")


def test_missing_kb_dir_is_a_clear_error(tmp_path):
    with pytest.raises(KBError, match="not found"):
        KnowledgeBase.open(tmp_path / "nope")


def test_existing_target_needs_overwrite(boston_kb, boston_dump, tiny_detector):
    with pytest.raises(KBError, match="overwrite"):
        build_kb(boston_dump, boston_kb, tiny_detector, progress=False)
    build_kb(boston_dump, boston_kb, tiny_detector, progress=False, overwrite=True)
    assert (boston_kb / "manifest.json").exists()


def test_malformed_lines_are_counted_and_budgeted(tmp_path, tiny_detector):
    dump = write_dump(tmp_path / "bad.json", BOSTON[:3], extra_lines=['{"id": "Q1", "labels": ', "not json at all"])
    manifest = build_kb(dump, tmp_path / "kb", tiny_detector, progress=False, error_budget=5)
    assert manifest["counts"]["malformed"] == 2 and manifest["counts"]["kept"] == 3
    with pytest.raises(DumpError, match="error_budget"):
        build_kb(dump, tmp_path / "kb2", tiny_detector, progress=False, error_budget=1)
    assert not (tmp_path / "kb2").exists()
    assert not any(p.name.startswith(".kb2") for p in tmp_path.iterdir())


def test_truncated_dump_publishes_nothing(tmp_path, tiny_detector):
    big = [make_entity(f"Q{i}", f"entity {i}", f"thing number {i}", p31=["Q5"]) for i in range(1, 3000)]
    good = write_dump(tmp_path / "big.json.gz", big)
    data = good.read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DumpError):
        build_kb(cut, tmp_path / "kb", tiny_detector, progress=False)
    assert not (tmp_path / "kb").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_dump_is_a_clear_error(tmp_path, tiny_detector):
    with pytest.raises(DumpError, match="not found"):
        build_kb(tmp_path / "none.json.gz", tmp_path / "kb", tiny_detector, progress=False)


def test_no_entity_kept_is_an_error(tmp_path, tiny_detector):
    dump = write_dump(tmp_path / "empty.json", [make_entity("Q7", "", "no label")])
    with pytest.raises(KBError, match="no entity was kept"):
        build_kb(dump, tmp_path / "kb", tiny_detector, progress=False)


def test_entity_text_template():
    rec = BOSTON[0]
    from glinker.types import EntityRecord

    r = EntityRecord("Q100", "Boston", "capital of Massachusetts")
    assert entity_text(r, "{label}: {description}") == "Boston: capital of Massachusetts"
    assert entity_text(EntityRecord("Q1", "X"), "{label}: {description}") == "X"
    assert rec["id"] == "Q100"


def test_normalize_alias():
    assert normalize_alias("Zürich") == normalize_alias("ZURICH ") == "zurich"
    assert normalize_alias("AC/DC") == "ac/dc"
    assert normalize_alias("“Boston”,") == "boston"


def test_default_factory_by_size():
    assert default_factory(66_000) == "Flat"
    assert default_factory(1_000_000).startswith("HNSW")
    assert default_factory(100_000_000).startswith("IVF")


def test_gz_and_plain_dumps_build_the_same_kb(tmp_path, tiny_detector):
    plain = write_dump(tmp_path / "d.json", BOSTON)
    gz = tmp_path / "d.json.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(plain.read_bytes())
    a = build_kb(plain, tmp_path / "a", tiny_detector, progress=False)
    b = build_kb(gz, tmp_path / "b", tiny_detector, progress=False)
    assert a["counts"] == b["counts"]


def test_leftovers_of_a_killed_build_are_removed(tmp_path, boston_dump, tiny_detector):
    stale = tmp_path / ".kb.building-999999999"  # no such pid
    stale.mkdir()
    (stale / "junk").write_text("x")
    build_kb(boston_dump, tmp_path / "kb", tiny_detector, progress=False)
    assert not stale.exists() and (tmp_path / "kb" / "manifest.json").exists()
