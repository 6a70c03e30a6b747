"""Name retrieval (mention text -> entity sentence embeddings) and the string features of the reranker."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from glinker.kb import KnowledgeBase
from glinker.kb.manifest import NAME_INDEX_FILE
from glinker.rerank.features import name_forms, string_features, string_similarity, token_overlap
from glinker.rerank.ranker import FeatureReranker
from glinker.retrieval.candidates import AliasRetriever, NameRetriever, UnionRetriever
from glinker.types import Mention
from kb_build.build import build_kb


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_detector):
    from conftest import BOSTON, write_dump

    root = tmp_path_factory.mktemp("names")
    dump = write_dump(root / "boston.json", BOSTON)
    build_kb(dump, root / "kb", tiny_detector, progress=False)
    return root / "kb"


def _brute_force(kb, detector, text, k):
    _, e = detector.encode_texts_pooled([text])
    q = e[0] / np.linalg.norm(e[0])
    sent = np.asarray(kb.sentences, dtype=np.float32)
    sent /= np.linalg.norm(sent, axis=1, keepdims=True)
    sims = sent @ q
    best = np.argsort(-sims)[:k]
    return kb.store.qids_for_rows(best.tolist()), sims[best]


def test_kb_build_writes_the_name_index(built):
    kb = KnowledgeBase.open(built)
    assert (built / NAME_INDEX_FILE).is_file()
    assert kb.manifest["name_index"]["ntotal"] == kb.index.ntotal == kb.name_index.ntotal


@pytest.mark.parametrize("without_file", [False, True])
def test_name_retriever_is_cosine_search_over_sentence_embeddings(built, tiny_detector, tmp_path, without_file):
    path = built
    if without_file:  # a KB built before names.faiss existed: exact in-memory fallback
        path = tmp_path / "old"
        shutil.copytree(built, path)
        (path / NAME_INDEX_FILE).unlink()
        manifest = json.loads((path / "manifest.json").read_text())
        manifest.pop("files", None)  # such a KB predates the recorded file sizes too
        (path / "manifest.json").write_text(json.dumps(manifest))
    kb = KnowledgeBase.open(path)
    mentions = [Mention(0, 6, "Boston", "location", 0.9), Mention(10, 16, "Celtics", "organization", 0.9)]
    got = NameRetriever(kb, tiny_detector, top_k=3).retrieve(mentions, ["Boston Celtics"] * 2)
    for m, cands in zip(mentions, got):
        qids, sims = _brute_force(kb, tiny_detector, m.text, 3)
        assert [c.qid for c in cands] == qids
        assert [c.name_score for c in cands] == pytest.approx(sims.tolist(), abs=1e-4)
        assert all(c.sources == ("name",) for c in cands)


def test_union_keeps_alias_flag_and_name_score(built, tiny_detector):
    kb = KnowledgeBase.open(built)
    m = Mention(0, 6, "Boston", "location", 0.9)
    union = UnionRetriever([AliasRetriever(kb), NameRetriever(kb, tiny_detector, top_k=len(kb.store))])
    (cands,) = union.retrieve([m], ["Boston"])
    by_qid = {c.qid: c for c in cands}
    assert {"Q100", "Q131371", "Q204289"} <= set(by_qid)
    assert by_qid["Q100"].alias_match and by_qid["Q100"].name_score is not None
    assert set(by_qid["Q100"].sources) == {"alias", "name"}


def test_reranker_name_similarity_covers_alias_candidates(built, tiny_detector):
    kb = KnowledgeBase.open(built)
    m = Mention(0, 6, "Boston", "location", 0.9)
    (alias,) = AliasRetriever(kb).retrieve([m], ["Boston"])
    (feats,) = FeatureReranker(kb, detector=tiny_detector).featurize([m], [alias], ["Boston"])
    qids, sims = _brute_force(kb, tiny_detector, "Boston", len(kb.store))
    expect = dict(zip(qids, sims.tolist()))
    for c, f in zip(alias, feats):
        assert f["name_sim"] == pytest.approx(expect[c.qid], abs=1e-3)
    ranks = sorted(f["name_rank"] for f in feats)
    assert ranks == pytest.approx([1 / 3, 1 / 2, 1.0])
    assert max(f["name_gap"] for f in feats) == 0.0


def test_string_features():
    assert string_similarity("iraqi", ["iraq"]) > string_similarity("iraqi", ["germany", "deutschland"])
    assert string_similarity("boston", ["boston"]) == 1.0
    assert token_overlap("yeltsin", ["boris yeltsin"]) == 1.0
    assert token_overlap("boris johnson", ["boris yeltsin"]) == 0.5
    assert token_overlap("", ["x"]) == 0.0


@pytest.mark.parametrize("mention, label, aliases", [
    ("boston", "Boston", ("Beantown", "City of Boston")),
    ("yeltsin", "Boris Yeltsin", ()),
    ("boris johnson", "Boris Yeltsin", ("Boris Nikolayevich Yeltsin",)),
    ("beantown", "Boston", ("Beantown",)),
    ("", "Boston", ()),
])
def test_memoised_string_features_equal_the_direct_ones(mention, label, aliases):
    names = name_forms(label, aliases)[0]
    for _ in range(2):  # computed, then from the memo
        assert string_features(mention, label, aliases) == (
            names[0] == mention, mention in names, string_similarity(mention, names), token_overlap(mention, names))


def test_name_retriever_searches_each_string_once_and_remembers_it(built, tiny_detector):
    kb = KnowledgeBase.open(built)
    mentions = [Mention(0, 6, "Boston", "location", 0.9), Mention(10, 17, "Celtics", "organization", 0.9),
                Mention(20, 26, "Boston", "location", 0.8)]
    fresh = NameRetriever(kb, tiny_detector, top_k=3, cache_size=0)  # every call searches
    cached = NameRetriever(kb, tiny_detector, top_k=3)
    first = cached.retrieve(mentions, [""] * 3)
    assert first[0] and first == fresh.retrieve(mentions, [""] * 3)
    assert cached.searched == 2  # "Boston" twice in one call: one search
    again = cached.retrieve(mentions[:1] + [Mention(0, 5, "Bosto", "location", 0.9)], [""] * 2)
    assert cached.searched == 3 and again[0] == first[0]  # "Boston" from the cache, "Bosto" searched
    kb.version += 1  # as after kb.refresh(): an updated KB is searched again
    assert cached.retrieve(mentions[:1], [""]) == first[:1] and cached.searched == 4


def test_string_features_from_memoised_name_forms():
    from glinker.kb.normalize import normalize_alias
    from glinker.rerank.features import candidate_features
    from glinker.types import Candidate, EntityRecord

    recs = {"Q1": EntityRecord("Q1", "Boris Yeltsin", aliases=("Yeltsin", "B. N. Yeltsin")),
            "Q2": EntityRecord("Q2", "Boston", aliases=("Beantown",))}
    cands = [Candidate("Q1", 0.0), Candidate("Q2", 0.0), Candidate("Q3", 0.0)]  # Q3: no record
    m = Mention(0, 7, "Yeltsin", "person", 0.9)
    before = string_features.cache_info()
    feats = candidate_features(m, cands, recs)
    again = candidate_features(m, cands, recs)
    assert feats == again and string_features.cache_info().hits >= before.hits + 2  # the second call's two records
    for c, f in zip(cands, feats):
        rec = recs.get(c.qid)
        names = [normalize_alias(n) for n in (rec.label, *rec.aliases)] if rec else []
        assert f["string_sim"] == string_similarity("yeltsin", names)
        assert f["token_overlap"] == token_overlap("yeltsin", names)
    assert feats[0]["alias_match"] == 1.0 and feats[0]["token_overlap"] == 1.0 and feats[2]["string_sim"] == 0.0
