"""KB updates on the demo dump: a KB built without some entities and updated with them answers like the
KB built with them (records, alias lists, top-10 candidates; after compaction the same bytes and search
results); deletions, redirects, the API's JSON shapes, readers that keep their version, other index types."""

# ruff: noqa: F811  (test arguments named like the imported fixture `demo`)
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from update_fixtures import demo, demo_lines, write_dump  # noqa: F401  (demo: a fixture)

from glinker.errors import KBError
from glinker.kb import KnowledgeBase
from glinker.kb.manifest import read_manifest
from glinker.retrieval.candidates import AliasRetriever, NameRetriever
from glinker.types import Mention
from kb_build.build import build_kb
from kb_build.compact import compact_kb
from kb_build.update import update_kb


def copy_kb(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def mentions_of(kb: KnowledgeBase) -> list[Mention]:
    names = sorted({r.label for r in kb.store.iter_records()} | {"Arnold", "Boston", "Paris", "Terminator"})
    return [Mention(0, len(n), n, "person", 1.0) for n in names]


def candidates(kb: KnowledgeBase, detector, mentions: list[Mention]) -> tuple[list, list]:
    alias = AliasRetriever(kb, top_k=10).retrieve(mentions, [""] * len(mentions))
    names = NameRetriever(kb, detector, top_k=10).retrieve(mentions, [""] * len(mentions))
    return [[c.qid for c in cs] for cs in alias], [[c.qid for c in cs] for cs in names]


def records(kb: KnowledgeBase) -> dict:
    return {r.qid: r for r in kb.store.iter_records()}


def test_update_then_compact_answers_like_the_full_build(demo, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    summary = update_kb(kb_dir, tiny_detector, changes=str(demo["changes"]), compact_share=None, progress=False)
    assert summary["counts"]["added"] == len(demo["held"]) and summary["version"] == {"from": 0, "to": 1}
    full = KnowledgeBase.open(demo["full"])
    kb = KnowledgeBase.open(kb_dir, expect_fingerprint=tiny_detector.fingerprint)
    assert kb.version == 1 and len(kb.store) == len(full.store) == kb.index.ntotal
    want, got = records(full), records(kb)
    assert {q: r.label for q, r in want.items()} == {q: r.label for q, r in got.items()}
    assert all(want[q].aliases == got[q].aliases and want[q].popularity == got[q].popularity for q in want)
    assert list(kb.store.iter_aliases()) == list(full.store.iter_aliases())
    mentions = mentions_of(full)
    assert candidates(kb, tiny_detector, mentions) == candidates(full, tiny_detector, mentions)
    queries = np.random.default_rng(0).standard_normal((40, tiny_detector.dim)).astype(np.float32)
    for name in ("index", "name_index"):
        r1, s1 = getattr(full, name).search(queries, 10)
        r2, s2 = getattr(kb, name).search(queries, 10)
        assert [full.store.qids_for_rows(r) for r in r1] == [kb.store.qids_for_rows(r) for r in r2]
        assert np.allclose(s1, s2, atol=1e-4)

    compact_kb(kb_dir, progress=False)
    assert kb.refresh() and kb.version == 2
    for qid in want:
        assert kb.store.get_raw(qid) == full.store.get_raw(qid)  # byte-identical records, rows included
    assert list(kb.store.iter_aliases()) == list(full.store.iter_aliases())
    for name in ("index", "name_index"):
        r1, s1 = getattr(full, name).search(queries, 10)
        r2, s2 = getattr(kb, name).search(queries, 10)
        # same rows; scores agree to fp16 rounding (texts embedded in other batches sum in another order)
        assert (r1 == r2).all() and np.allclose(s1, s2, atol=1e-3)
    assert not (kb_dir / "delta-v1").exists() or kb.refresh() is False  # removed once no reader holds it


def test_rerun_is_unchanged_and_text_preserving_edits_keep_their_row(demo, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["full"], tmp_path / "kb")
    again = update_kb(kb_dir, tiny_detector, changes=str(demo["changes"]), progress=False)
    assert again["counts"]["unchanged"] == len(demo["held"]) and again["version"] == {"from": 0, "to": 0}
    entity = json.loads(demo_lines()[120])
    qid = entity["id"]
    before = KnowledgeBase.open(kb_dir).store.get(qid)
    entity["aliases"]["en"] = [{"language": "en", "value": "Brand New Alias"}]
    (tmp_path / "c.json").write_text(json.dumps({"entities": {qid: entity}}) + "\n")
    out = update_kb(kb_dir, tiny_detector, changes=str(tmp_path / "c.json"), compact_share=None, progress=False)
    assert out["counts"]["updated"] == 1
    kb = KnowledgeBase.open(kb_dir)
    rec = kb.store.get(qid)
    assert rec.row == before.row and rec.aliases == ("Brand New Alias",)  # same text: same vectors, no new row
    assert kb.store.lookup_alias("brand new alias") == [qid]
    assert read_manifest(kb_dir)["delta"]["rows"] == 0
    for alias in before.aliases:
        assert qid not in kb.store.lookup_alias(alias) or alias.casefold() == rec.label.casefold()


def test_deletions_and_redirects(demo, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["full"], tmp_path / "kb")
    lines = demo_lines()
    gone, source, target = json.loads(lines[10])["id"], json.loads(lines[11])["id"], json.loads(lines[12])["id"]
    old = KnowledgeBase.open(kb_dir)
    gone_rec, source_rec = old.store.get(gone), old.store.get(source)
    (tmp_path / "del.txt").write_text(f"# to delete\n{gone}\nQ999999999\nnot-a-qid\n")
    (tmp_path / "redir.jsonl").write_text(json.dumps({"redirects": {"from": source, "to": target}}) + "\n")
    out = update_kb(kb_dir, tiny_detector, changes=str(tmp_path / "redir.jsonl"), deletions=str(tmp_path / "del.txt"),
                    compact_share=None, progress=False)
    assert out["counts"] | {"filtered": {}} == {"added": 0, "updated": 0, "deleted": 1, "redirected": 1,
                                                "unchanged": 0, "malformed": 1, "not_found": 1, "filtered": {}}
    assert old.store.get(gone) is not None  # the reader opened before the update still answers as version 0
    assert not old.is_current()
    kb = KnowledgeBase.open(kb_dir)
    assert kb.store.get(gone) is None and kb.resolve(gone) is None
    assert kb.resolve(source) == target and kb.store.get(source).qid == target
    assert len(kb.store) == len(old.store) - 2 == kb.index.ntotal
    vecs = old.entity_vectors(np.array([gone_rec.row, source_rec.row]))
    for index in (kb.index, kb.name_index):
        rows, _ = index.search(vecs, 50)
        found = {q for r in rows for q in kb.store.qids_for_rows(r) if q}
        assert gone not in found and source not in found
    assert gone not in kb.store.lookup_alias(gone_rec.label)
    assert all(q != source for _, q in kb.store.iter_aliases())
    assert old.refresh() and old.store.get(gone) is None
    compact_kb(kb_dir, progress=False)
    kb.refresh()
    assert kb.resolve(source) is None and kb.store.get(gone) is None and len(kb.store) == len(old.store)


def test_files_of_an_open_version_stay_until_its_reader_lets_go(demo, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    update_kb(kb_dir, tiny_detector, changes=str(demo["changes"]), compact_share=None, progress=False)
    reader = KnowledgeBase.open(kb_dir)
    compact_kb(kb_dir, progress=False)
    assert (kb_dir / "delta-v1").is_dir() and (kb_dir / "names.faiss").is_file()  # version 1 is still read
    rec = reader.store.get(demo["held"][0])
    rows, _ = reader.name_index.search(reader.sentence_vectors(np.array([rec.row])), 1)  # opened on first use
    assert reader.store.qids_for_rows(rows[0]) == [rec.qid]
    reader.close()
    compact_kb(kb_dir, progress=False)  # nothing to fold; removes what no reader holds
    assert sorted(p.name for p in kb_dir.iterdir()) == [".update.lock", "base-v2", "manifest.json", "readers.lock"]


def test_entity_data_shapes_and_malformed_records(demo, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    held = [json.loads(line) for line in demo_lines()[100:106:2]]
    a, b, c = held
    new = {"type": "item", "id": "Q987654321", "labels": {"en": {"language": "en", "value": "Zanzibar Quux"}},
           "descriptions": {"en": {"language": "en", "value": "a made-up test entity"}}, "aliases": {},
           "claims": {}, "sitelinks": {}}
    lines = [
        json.dumps({"entities": {a["id"]: a}}),                       # Special:EntityData
        json.dumps({"entities": {"Q111111111": b}}),                   # key != id: a redirect, and b itself
        json.dumps({"entities": {c["id"]: {**c, "redirects": {"from": "Q222222222", "to": c["id"]}}}}),
        "{this is not json",
        json.dumps({"entities": {"Q333333333": {"id": "Q333333333", "missing": ""}}}),
    ]
    (tmp_path / "changes.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "one.json").write_text(json.dumps({"entities": {new["id"]: new}}, indent=2))  # pretty-printed
    out = update_kb(kb_dir, tiny_detector, changes=str(tmp_path / "changes.jsonl"), compact_share=None,
                    progress=False)
    assert out["counts"]["added"] == 3 and out["counts"]["redirected"] == 2 and out["counts"]["malformed"] == 1
    assert out["counts"]["not_found"] == 1 and out["first_errors"]
    out = update_kb(kb_dir, tiny_detector, changes=str(tmp_path / "one.json"), compact_share=None, progress=False)
    assert out["counts"]["added"] == 1 and out["version"]["to"] == 2
    kb = KnowledgeBase.open(kb_dir)
    assert kb.resolve("Q111111111") == b["id"] and kb.resolve("Q222222222") == c["id"]
    assert kb.store.lookup_alias("zanzibar quux") == ["Q987654321"]
    rows, _ = kb.name_index.search(kb.sentence_vectors(np.array([kb.store.get("Q987654321").row])), 3)
    assert kb.store.qids_for_rows(rows[0])[0] == "Q987654321"


def test_another_model_is_refused(demo, tmp_path, tmp_path_factory):
    from conftest import make_tiny_checkpoint

    from glinker.detection.bi_encoder import BiEncoderDetector

    other = BiEncoderDetector(str(make_tiny_checkpoint(tmp_path_factory.mktemp("m") / "other", seed=1)))
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    with pytest.raises(KBError, match="fingerprint"):
        update_kb(kb_dir, other, changes=str(demo["changes"]), progress=False)
    assert read_manifest(kb_dir).get("version", 0) == 0


@pytest.mark.parametrize("factory", ["HNSW32,Flat", "IVF4,Flat"])
def test_approximate_index_types(demo, tiny_detector, tmp_path, factory):
    lines = demo_lines()[:300]
    held = lines[50:250:4]
    build_kb(write_dump(tmp_path / "part.json", [x for x in lines if x not in held]), tmp_path / "kb", tiny_detector,
             index_factory=factory, progress=False)
    (tmp_path / "c.jsonl").write_text("\n".join(held) + "\n")
    deleted = json.loads(lines[0])["id"]
    (tmp_path / "d.txt").write_text(deleted + "\n")
    update_kb(tmp_path / "kb", tiny_detector, changes=str(tmp_path / "c.jsonl"), deletions=str(tmp_path / "d.txt"),
              compact_share=None, progress=False)
    kb = KnowledgeBase.open(tmp_path / "kb")
    added = [kb.store.get(json.loads(h)["id"]) for h in held]
    live = np.array(sorted(r.row for r in kb.store.iter_records()))
    for index, vectors in ((kb.index, kb.entity_vectors), (kb.name_index, kb.sentence_vectors)):
        queries = vectors(np.array([r.row for r in added]))
        rows, _ = index.search(queries, 5)
        # against exact search over the live rows: the approximate base and the exact delta merge well
        exact = vectors(live)
        if index is kb.name_index:
            exact /= np.linalg.norm(exact, axis=1, keepdims=True)
        truth = live[np.argsort(-(queries @ exact.T), axis=1)[:, :5]]
        recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(rows.tolist(), truth.tolist())])
        assert recall >= 0.9, (factory, recall)
        everything, _ = index.search(vectors(np.arange(0, 40)), 30)
        assert all(q != deleted for rs in everything for q in kb.store.qids_for_rows(rs))


def test_cli_update(demo, tiny_model_dir, tmp_path):
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    ok = subprocess.run([sys.executable, "-m", "kb_build", "update", f"kb_dir={kb_dir}", f"changes={demo['changes']}",
                         f"model={tiny_model_dir}", "compact_share=null", "progress=false"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["counts"]["added"] == len(demo["held"])
    assert "added 200, updated 0" in ok.stderr and "version 0 -> 1" in ok.stderr


@pytest.mark.slow
def test_cli_bad_input_and_compact(demo, tiny_model_dir, tiny_detector, tmp_path):
    kb_dir = copy_kb(demo["part"], tmp_path / "kb")
    run = [sys.executable, "-m", "kb_build"]
    bad = subprocess.run(run + ["update", f"kb_dir={kb_dir}", f"changes={tmp_path / 'nope.json'}",
                                f"model={tiny_model_dir}"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "changes file not found" in bad.stderr and "Traceback" not in bad.stderr
    update_kb(kb_dir, tiny_detector, changes=str(demo["changes"]), compact_share=None, progress=False)
    done = subprocess.run(run + ["compact", f"kb_dir={kb_dir}", "progress=false"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and json.loads(done.stdout)["version"] == {"from": 1, "to": 2}, done.stderr
