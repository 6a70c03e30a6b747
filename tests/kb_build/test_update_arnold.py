"""The arnold KB built without 2,000 of its entities and updated with them answers like the KB built from
the full dump (default model): same records and alias lists, the same top-10 alias and name candidates for
every mention of the shared EL dev sets; after compaction byte-identical records and the same search
results. Slow: two arnold builds (``-m slow``); ``GLINKER_ARNOLD_KB`` may name a full arnold KB built
with the same settings (default model, the arnold popularity table) to save one of them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from glinker.kb import KnowledgeBase
from glinker.retrieval.candidates import AliasRetriever, NameRetriever
from glinker.types import Mention
from kb_build.build import build_kb
from kb_build.compact import compact_kb
from kb_build.dump import iter_lines
from kb_build.update import update_kb

DEV_SETS = ["el/elevant/aida-conll-dev.benchmark.jsonl", "el/elevant/msnbc-updated.benchmark.jsonl",
            "el/elevant/derczynski.benchmark.jsonl"]


def top10(kb: KnowledgeBase, detector, mentions: list[Mention]) -> list[list[str]]:
    contexts = [""] * len(mentions)
    alias = AliasRetriever(kb, top_k=10).retrieve(mentions, contexts)
    names = NameRetriever(kb, detector, top_k=10).retrieve(mentions, contexts)
    return [[c.qid for c in a] + ["|"] + [c.qid for c in n] for a, n in zip(alias, names)]


@pytest.mark.slow
def test_arnold_updated_with_2000_entities_equals_the_full_build(shared_data, tmp_path):
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.evaluate.el import load_benchmark

    arnold = shared_data / "wikidata" / "arnold"
    dump, popularity = arnold / "arnold-dump.json.gz", arnold / "arnold-popularity.tsv.gz"
    detector = BiEncoderDetector(None)
    lines = [line for _, line in iter_lines(dump, threads=1)]
    step = len(lines) // 2000
    held = set(range(step // 2, len(lines), step)[:2000])
    (tmp_path / "part.json").write_bytes(b"[\n" + b",\n".join(x for i, x in enumerate(lines) if i not in held)
                                         + b"\n]\n")
    (tmp_path / "changes.jsonl").write_bytes(b"\n".join(lines[i] for i in sorted(held)) + b"\n")
    del lines
    full_dir = Path(os.environ.get("GLINKER_ARNOLD_KB") or tmp_path / "full")
    if not full_dir.exists():
        build_kb(dump, full_dir, detector, popularity=str(popularity), progress=False)
    build_kb(tmp_path / "part.json", tmp_path / "kb", detector, popularity=str(popularity), progress=False)
    out = update_kb(tmp_path / "kb", detector, changes=str(tmp_path / "changes.jsonl"), compact_share=None,
                    progress=False)
    assert out["counts"]["added"] + sum(out["counts"]["filtered"].values()) == 2000
    full, kb = KnowledgeBase.open(full_dir), KnowledgeBase.open(tmp_path / "kb")
    assert len(kb.store) == len(full.store)
    want = {r.qid: r for r in full.store.iter_records()}
    got = {r.qid: r for r in kb.store.iter_records()}
    assert want.keys() == got.keys()
    assert all((want[q].label, want[q].description, want[q].aliases, want[q].types, want[q].popularity)
               == (got[q].label, got[q].description, got[q].aliases, got[q].types, got[q].popularity) for q in want)
    assert list(kb.store.iter_aliases()) == list(full.store.iter_aliases())
    mentions = [Mention(m.start, m.end, d.text[m.start : m.end], "entity", 1.0)
                for path in DEV_SETS for d in load_benchmark(shared_data / path) for m in d.mentions]
    assert len(mentions) > 1000
    assert top10(kb, detector, mentions) == top10(full, detector, mentions)

    compact_kb(tmp_path / "kb", progress=False)
    assert kb.refresh()
    assert all(kb.store.get_raw(q) == full.store.get_raw(q) for q in want)
    queries = np.asarray(full.entity_vectors(np.arange(0, len(want), 97)))
    for name in ("index", "name_index"):
        r1, _ = getattr(full, name).search(queries, 10)
        r2, _ = getattr(kb, name).search(queries, 10)
        assert (r1 == r2).all()
    assert top10(kb, detector, mentions) == top10(full, detector, mentions)
