"""Retrievers, rerankers and the pipeline, on a real built KB with controlled mention vectors."""

from __future__ import annotations

import numpy as np
import pytest

from glinker.kb import KnowledgeBase
from glinker.pipeline import Pipeline
from glinker.refinement import AbbreviationDots, ArticleNames, CommaNames, NameExtension, PlaceQualifiers
from glinker.rerank.ranker import FeatureReranker, NoReranker
from glinker.retrieval.candidates import AliasRetriever, DenseRetriever, UnionRetriever
from glinker.types import Candidate, Document, LinkDecision, Mention
from kb_build.build import build_kb, entity_text


@pytest.fixture(scope="module")
def kb(tmp_path_factory, tiny_detector):
    from conftest import BOSTON, write_dump

    root = tmp_path_factory.mktemp("pipe")
    dump = write_dump(root / "boston.json", BOSTON)
    build_kb(dump, root / "kb", tiny_detector, progress=False)
    return KnowledgeBase.open(root / "kb", expect_fingerprint=tiny_detector.fingerprint)


def _vector_of(kb, detector, qid):
    rec = kb.store.get(qid)
    return detector.encode_texts([entity_text(rec, "{label}: {description}")])[0]


def test_dense_retriever_scores_are_inner_products(kb, tiny_detector):
    vec = _vector_of(kb, tiny_detector, "Q131371")
    m = Mention(0, 6, "Boston", "organization", 0.9, vec)
    (cands,) = DenseRetriever(kb, top_k=len(kb.store)).retrieve([m], ["Boston won."])
    by_qid = {c.qid: c for c in cands}
    assert by_qid["Q131371"].dense_score == pytest.approx(float(vec @ vec), rel=1e-2)
    assert [c.dense_score for c in cands] == sorted((c.dense_score for c in cands), reverse=True)
    assert cands[0].sources == ("dense",)


def test_dense_retriever_matches_brute_force(kb, tiny_detector):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, tiny_detector.dim)).astype(np.float32)
    mentions = [Mention(0, 1, "x", "person", 0.5, v) for v in q]
    got = DenseRetriever(kb, top_k=4).retrieve(mentions, ["x"] * 5)
    emb = np.asarray(kb.embeddings, dtype=np.float32)
    for i, cands in enumerate(got):
        best_rows = np.argsort(-(emb @ q[i]))[:4]
        assert [c.qid for c in cands] == kb.store.qids_for_rows(best_rows.tolist())


def test_alias_retriever_returns_all_homonyms_by_popularity(kb):
    m = Mention(0, 6, "boston", "location", 0.9)
    (cands,) = AliasRetriever(kb).retrieve([m], ["boston"])
    assert [c.qid for c in cands] == ["Q100", "Q131371", "Q204289"]
    assert all(c.alias_match for c in cands)


def test_union_merges_and_flags(kb, tiny_detector):
    vec = _vector_of(kb, tiny_detector, "Q204289")
    m = Mention(0, 6, "Boston", "organization", 0.9, vec)
    (cands,) = UnionRetriever([DenseRetriever(kb, top_k=2), AliasRetriever(kb)]).retrieve([m], ["Boston"])
    by_qid = {c.qid: c for c in cands}
    assert set(by_qid) >= {"Q100", "Q131371", "Q204289"}
    assert by_qid["Q204289"].alias_match and set(by_qid["Q204289"].sources) == {"dense", "alias"}
    assert all(c.dense_score is not None for c in cands)  # alias candidates get exact scores from embeddings


# hand-set weights, so these tests do not move when the learned defaults are refitted
SIMPLE_WEIGHTS = {"alias_match": 1.5, "prior": 2.0}


def test_no_reranker_keeps_order_and_nil_without_candidates():
    m = Mention(0, 1, "x", "person", 0.5)
    d1, d2 = NoReranker().rerank([m, m], [[Candidate("Q1", 2.0), Candidate("Q2", 1.0)], []], ["x", "x"])
    assert d1.qid == "Q1" and [c.qid for c, _ in d1.ranked] == ["Q1", "Q2"]
    assert d2.qid is None


def test_feature_reranker_prefers_alias_and_popularity_and_says_nil(kb):
    m = Mention(0, 6, "Boston", "location", 0.9)
    alias = AliasRetriever(kb).retrieve([m], ["Boston"])[0]
    rr = FeatureReranker(kb, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.5)
    (d,) = rr.rerank([m], [alias], ["Boston"])
    assert d.qid == "Q100"
    strict = FeatureReranker(kb, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.999)
    (nil,) = strict.rerank([m], [alias], ["Boston"])
    assert nil.qid is None and nil.ranked  # NIL is explicit, candidates still reported
    with pytest.raises(ValueError, match="unknown reranker features"):
        FeatureReranker(kb, weights={"nonsense": 1.0})


class _FixedDetector:
    """Detector stand-in with known spans, so pipeline bookkeeping is checked exactly."""

    def detect(self, texts, labels=None):
        out = []
        for t in texts:
            i = t.find("Boston")
            out.append([Mention(i, i + 6, "Boston", "location", 0.8)] if i >= 0 else [])
        return out


def test_pipeline_writes_offsets_labels_and_nil(kb):
    reranker = FeatureReranker(kb, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.5)
    pipe = Pipeline(_FixedDetector(), AliasRetriever(kb), reranker, kb, batch_size=2, max_candidates=2)
    docs = [Document("a", "I live in Boston."), Document("b", "Nothing here."), Document("c", "Boston!")]
    out = list(pipe(docs))
    assert [d.id for d in out] == ["a", "b", "c"]
    m = out[0].mentions[0]
    assert (m.start, m.end, m.text) == (10, 16, "Boston") and out[0].text[m.start:m.end] == "Boston"
    assert m.qid == "Q100" and m.entity_label == "Boston" and m.description
    assert len(m.candidates) == 2 and m.candidates[0]["qid"] == "Q100"
    assert out[1].mentions == []
    row = out[0].to_dict(with_candidates=True)
    assert set(row["mentions"][0]) >= {"start", "end", "text", "label", "score", "qid", "entity_label",
                                       "description", "link_score", "candidates"}


def test_pipeline_end_to_end_with_the_bi_encoder(kb, tiny_detector):
    pipe = Pipeline(tiny_detector, UnionRetriever([DenseRetriever(kb), AliasRetriever(kb)]), FeatureReranker(kb), kb)
    doc = pipe.link_text("Arnold Schwarzenegger moved to Boston in 1968.")
    assert doc.mentions, "the tiny model proposes spans in this sentence"
    for m in doc.mentions:
        assert doc.text[m.start:m.end] == m.text
        assert m.qid is None or kb.store.get(m.qid) is not None


def test_alias_detector_whole_words_longest_match_and_guards(kb):
    from glinker.detection.alias import AliasMentionDetector

    det = AliasMentionDetector(kb)
    text = "Bostonians cheered: the Boston Celtics beat a boston team; Arnold Schwarzenegger watched."
    (ms,) = det.detect([text])
    assert [m.text for m in ms] == ["Boston Celtics", "Arnold Schwarzenegger"]
    for m in ms:
        assert text[m.start:m.end] == m.text
    (accented,) = det.detect(["BOSTON’s mayor"])
    assert [m.text for m in accented] == ["BOSTON"]


def test_union_detector_adds_dictionary_spans_with_vectors(kb, tiny_detector):
    from glinker.detection.alias import UnionDetector
    from glinker.detection.bi_encoder import BiEncoderDetector

    # a bi-encoder that proposes nothing: every mention must come from the dictionary
    quiet = BiEncoderDetector(tiny_detector.bundle, labels=["person"], threshold=0.999999)
    union = UnionDetector(quiet, kb)
    text = "Yesterday the Celtics played in Boston."
    (ms,) = union.detect([text])
    assert [m.text for m in ms] == ["Celtics", "Boston"]
    assert all(m.label == "person" for m in ms)  # labelled by the bi-encoder's label set
    for a in ms:
        for b in ms:
            assert a is b or not (a.start < b.end and b.start < a.end)
    assert all(m.vector is not None for m in ms)
    # min_words=2: only multi-word capitalised names join
    (two,) = UnionDetector(quiet, kb, min_words=2).detect(["Yesterday the Boston Celtics played in Boston."])
    assert [m.text for m in two] == ["Boston Celtics"]


def test_context_similarity_feature_uses_sentence_embeddings(kb, tiny_detector):
    m = Mention(0, 6, "Boston", "location", 0.9)
    alias = AliasRetriever(kb).retrieve([m], ["Boston"])[0]
    assert len(alias) == 3  # the city, the team, the band
    with_ctx = FeatureReranker(kb, detector=tiny_detector)
    (feats,) = with_ctx.featurize([m], [alias], ["Boston is the capital city of Massachusetts."])
    sims = [f["context_sim"] for f in feats]
    assert all(-1.0 <= s <= 1.0 for s in sims) and len(set(sims)) == len(sims)
    (plain,) = FeatureReranker(kb).featurize([m], [alias], ["Boston"])
    assert all(f["context_sim"] == 0.0 for f in plain)  # no detector: the feature is off


def test_type_score_feature_scores_the_span_against_class_names(kb, tiny_detector):
    text = "Arnold Schwarzenegger met fans in Boston ."
    (m,) = tiny_detector.encode_spans([text], [[(0, 21)]])[0]
    cands = [Candidate("Q2685", 1.0), Candidate("Q100", 0.5)]  # classes: Q5 "human" (in the KB), Q515 (not)
    typed = FeatureReranker(kb, detector=tiny_detector, weights={"type_score": 1.0})
    (feats,) = typed.featurize([m], [cands], [text])
    human = tiny_detector.label_vectors(["human"])[0]
    expect = 1.0 / (1.0 + np.exp(-float(np.dot(m.vector, human))))
    assert feats[0]["type_score"] == pytest.approx(expect, rel=1e-5)
    assert feats[1]["type_score"] == 0.0 and feats[1]["type_gap"] == 0.0  # no named class: unknown
    untyped = FeatureReranker(kb, detector=tiny_detector, weights={"prior": 1.0})
    (off,) = untyped.featurize([m], [cands], [text])
    assert off[0]["type_score"] == 0.0  # not computed while no weight uses it
    trace = untyped.trace([m], [cands], [text])  # what fitting reads: every feature, whatever its weight
    assert trace.features[0][0]["type_score"] == pytest.approx(expect, rel=1e-5)
    assert trace.decisions == untyped.rerank([m], [cands], [text])


def test_place_names_from_demonyms():
    from glinker.retrieval.demonyms import place_names

    for text, place in [("German", "Germany"), ("Russians", "Russia"), ("S. KOREAN", "South Korea"),
                        ("European", "Europe"), ("Chinese", "China"), ("English", "England"), ("Mexican", "Mexico"),
                        ("Spanish", "Spain"), ("Israeli", "Israel"), ("French", "France")]:
        assert place in place_names(text), text
    assert place_names("he") == [] and place_names("Germany") == [] and place_names("the German team") == []


def test_demonym_retriever_proposes_only_kb_places(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    from glinker.retrieval.demonyms import DemonymRetriever

    ents = [make_entity("Q183", "Germany", "country in Central Europe", ["FRG"], ["Q6256"], 300),
            make_entity("Q188", "German", "West Germanic language", ["German language"], ["Q34770"], 200),
            make_entity("Q6256", "country", "distinct territorial body", [], [], 100),
            make_entity("Q9999", "Germany", "a 2009 film", [], ["Q11424"], 10)]
    dump = write_dump(tmp_path / "d.json", ents)
    build_kb(dump, tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    ms = [Mention(0, 6, "German", "nationality", 0.9), Mention(0, 5, "Paris", "location", 0.9)]
    german, paris = DemonymRetriever(kb2).retrieve(ms, ["German fans", "Paris"])
    assert [c.qid for c in german] == ["Q183"]  # the film named Germany is no place
    assert german[0].sources == ("demonym",) and not german[0].alias_match
    assert paris == []


def test_pronouns_take_the_closest_compatible_antecedent(kb):
    from glinker.resolution.coref import PronounResolver, is_pronoun, pronoun_kind

    assert pronoun_kind("She") == "person" and pronoun_kind("its") == "thing" and pronoun_kind("they") is None
    # a word of two or more capitals is an abbreviation: the United States, Maine, information technology
    assert not any(is_pronoun(w) or pronoun_kind(w) for w in ("US", "ME", "IT", "HE")) and is_pronoun("I")
    text = "Arnold Schwarzenegger visited Boston . He liked it , and his film The Terminator too ."
    spans = [(0, 21, "Q2685"), (30, 36, "Q100"), (39, 41, None), (48, 50, None), (57, 60, None), (66, 80, "Q162255")]
    ms = [Mention(s, e, text[s:e], "person", 0.9) for s, e, _ in spans]
    decs = [LinkDecision(q, 0.8, ((Candidate(q, 1.0), 0.8),) if q else ()) if q
            else LinkDecision(None, 0.0, ((Candidate("Q999", 1.0), 0.1),)) for *_, q in spans]
    out = PronounResolver(kb).resolve(ms, decs)
    assert [d.qid for d in out] == ["Q2685", "Q100", "Q2685", "Q100", "Q2685", "Q162255"]
    assert out[2].ranked[0][0].qid == "Q2685" and out[2].ranked[1][0].qid == "Q999"  # own candidates kept after
    # no antecedent before the pronoun, or too far back: unchanged
    far = PronounResolver(kb, window_chars=5).resolve(ms, decs)
    assert far[2] is decs[2] and far[4] is decs[4]
    first = PronounResolver(kb).resolve(ms[2:3], decs[2:3])
    assert first[0] is decs[2]


class _SpansDetector:
    """Detector stand-in returning the spans of the given words."""

    def __init__(self, words):
        self.words = words

    def detect(self, texts, labels=None):
        return [[Mention(t.index(w), t.index(w) + len(w), w, "location", 0.7 + 0.01 * k)
                 for k, w in enumerate(self.words) if w in t] for t in texts]


def test_comma_names_join_only_when_the_kb_names_them(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q43788", "Madison", "city in Wisconsin", ["Madison, Wisconsin"], [], 50),
            make_entity("Q1537", "Wisconsin", "state of the United States", [], [], 80),
            make_entity("Q16559", "Austin", "city in Texas", [], [], 60),
            make_entity("Q1439", "Texas", "state of the United States", [], [], 90)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    text = "She moved from Madison, Wisconsin to Austin, Texas."
    det = _SpansDetector(["Madison", "Wisconsin", "Austin", "Texas"])
    reranker = FeatureReranker(kb2, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.0)
    comma = [CommaNames(kb2)]
    joined = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=comma).link_text(text)
    assert [(m.text, m.qid) for m in joined.mentions] == [("Madison, Wisconsin", "Q43788"), ("Austin", "Q16559"),
                                                          ("Texas", "Q1439")]
    apart = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=[]).link_text(text)
    assert [m.text for m in apart.mentions] == ["Madison", "Wisconsin", "Austin", "Texas"]


def test_abbreviation_dots_only_where_the_kb_spells_them(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q99", "California", "state of the United States", ["Calif.", "Calif"], [], 90),
            make_entity("Q796", "Iraq", "country in Western Asia", [], [], 80)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    text = "He left Calif. for Iraq."
    det = _SpansDetector(["Calif", "Iraq"])
    reranker = FeatureReranker(kb2, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.0)
    dots = [AbbreviationDots(kb2)]
    doc = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=dots).link_text(text)
    assert [(m.text, m.qid) for m in doc.mentions] == [("Calif.", "Q99"), ("Iraq", "Q796")]
    plain = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=[]).link_text(text)
    assert [m.text for m in plain.mentions] == ["Calif", "Iraq"]


def _comma_kb(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q7568", "Southborough", "town in Worcester County, Massachusetts", [], ["Q3957"], 20),
            make_entity("Q771", "Massachusetts", "state of the United States", ["Mass."], ["Q35657"], 90),
            make_entity("Q43788", "Madison", "city in Wisconsin", ["Madison, Wisconsin"], ["Q515"], 50),
            make_entity("Q7732", "Louis VIII", "Landgrave of Hesse-Darmstadt", [], ["Q5"], 10),
            make_entity("Q1065", "United Nations", "intergovernmental organization", ["UN"], [], 95),
            make_entity("Q30", "United States of America", "country", ["US", "U.S."], [], 99),
            make_entity("Q35657", "U.S. state", "constituent political entity of the United States", [], [], 80)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    return KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)


def test_comma_head_is_the_town_when_the_qualifier_is_a_place(tmp_path, tiny_detector):
    from glinker.surface import comma_head, other_name, undotted

    kb2 = _comma_kb(tmp_path, tiny_detector)
    assert comma_head(kb2.store, "Southborough, Massachusetts") == "Southborough"
    assert comma_head(kb2.store, "Southborough, Mass.") == "Southborough"  # any KB name of the place
    assert comma_head(kb2.store, "Madison, Wisconsin") is None  # the whole is a KB name already
    assert comma_head(kb2.store, "Louis VIII, Landgrave of Hesse-Darmstadt") is None  # qualifier no place
    assert comma_head(kb2.store, "Southborough") is None
    assert undotted(kb2.store, "U.N.") == "UN" == other_name(kb2.store, "U.N.")
    assert undotted(kb2.store, "U.S.") is None  # the KB spells the dotted form
    assert undotted(kb2.store, "St. Louis") is None and other_name(kb2.store, "Southborough, Mass.") == "Southborough"
    (un,) = AliasRetriever(kb2).retrieve([Mention(0, 4, "U.N.", "organization", 0.9)], ["U.N."])
    assert [c.qid for c in un] == ["Q1065"]

    m = Mention(0, 27, "Southborough, Massachusetts", "location", 0.9)
    (cands,) = AliasRetriever(kb2).retrieve([m], [m.text])
    assert [c.qid for c in cands] == ["Q7568"] and cands[0].alias_match
    assert AliasRetriever(kb2, other_names=False).retrieve([m], [m.text]) == [[]]

    # the string features compare the town's name, so the qualifier no longer wins them
    two = [Candidate("Q771", 0.0), Candidate("Q7568", 0.0)]
    feats = {c.qid: f for c, f in zip(two, FeatureReranker(kb2, weights=SIMPLE_WEIGHTS).featurize([m], [two],
                                                                                                  [m.text])[0])}
    assert feats["Q7568"]["label_match"] == 1.0 and feats["Q771"]["label_match"] == 0.0
    assert feats["Q7568"]["string_sim"] > feats["Q771"]["string_sim"]
    plain = FeatureReranker(kb2, weights=SIMPLE_WEIGHTS, other_names=False).featurize([m], [two], [m.text])[0]
    assert plain[1]["label_match"] == 0.0


def test_adjectives_of_religion_name_the_religion(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    from glinker.retrieval.demonyms import DemonymRetriever, place_names

    assert "Islam" in place_names("Moslems") and "Judaism" in place_names("Jewish")
    ents = [make_entity("Q432", "Islam", "monotheistic religion", [], ["Q9174"], 300),
            make_entity("Q47740", "Muslim", "adherent of Islam", [], ["Q4392985"], 100),
            make_entity("Q9174", "religion", "system of beliefs", [], [], 200)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    (found,) = DemonymRetriever(kb2).retrieve([Mention(0, 6, "Moslem", "miscellaneous", 0.8)], ["Moslem leaders"])
    assert [c.qid for c in found] == ["Q432"]


def test_coherence_is_the_mean_cosine_with_the_other_mentions_entities(kb, tiny_detector):
    text = "Arnold Schwarzenegger visited Boston and Boston again."
    ms = [Mention(0, 21, "Arnold Schwarzenegger", "person", 0.9), Mention(30, 36, "Boston", "location", 0.9),
          Mention(41, 47, "Boston", "location", 0.9)]
    cands = [[Candidate("Q2685", 0.0)], [Candidate("Q100", 0.0), Candidate("Q204289", 0.0)],
             [Candidate("Q100", 0.0), Candidate("Q204289", 0.0)]]
    weights = dict(SIMPLE_WEIGHTS, coherence=1.0)
    feats = FeatureReranker(kb, weights=weights).featurize(ms, cands, [text] * 3)

    def unit(qid):
        v = kb.sentence_vectors(np.array([kb.store.get(qid).row]))[0]
        return v / np.linalg.norm(v)

    # Arnold's only voter besides himself is Boston (twice): each a mixture of its candidates under
    # the first pass (alias/prior weights; equal alias flags here, so the prior decides)
    f = FeatureReranker(kb, weights=SIMPLE_WEIGHTS).featurize(ms[1:2], cands[1:2], [text])[0]
    z = np.array([sum(w * x[n] for n, w in SIMPLE_WEIGHTS.items()) for x in f])  # softmax: no bias needed
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    boston = p[0] * unit("Q100") + p[1] * unit("Q204289")
    assert feats[0][0]["coherence"] == pytest.approx(float(unit("Q2685") @ boston), abs=1e-5)
    # the two "Boston" mentions do not vote for each other: only Arnold votes
    assert feats[1][0]["coherence"] == pytest.approx(float(unit("Q100") @ unit("Q2685")), abs=1e-5)
    assert feats[1][1]["coherence"] == pytest.approx(float(unit("Q204289") @ unit("Q2685")), abs=1e-5)
    # one distinct voter: its best vote is its mean vote; with two, mean and best differ
    assert feats[1][1]["coherence_max"] == pytest.approx(feats[1][1]["coherence"], abs=1e-6)
    text2 = text + " The Terminator"
    ms2 = ms + [Mention(55, 69, "The Terminator", "film", 0.9)]
    feats2 = FeatureReranker(kb, weights=weights).featurize(ms2, cands + [[Candidate("Q162255", 0.0)]], [text2] * 4)
    votes = [float(unit("Q100") @ unit("Q2685")), float(unit("Q100") @ unit("Q162255"))]
    assert feats2[1][0]["coherence"] == pytest.approx(sum(votes) / 2, abs=1e-5)
    assert feats2[1][0]["coherence_max"] == pytest.approx(max(votes), abs=1e-5)
    # a pronoun neither votes nor is scored: its candidates come from the string "He"
    ms3 = ms + [Mention(55, 57, "He", "person", 0.9)]
    feats3 = FeatureReranker(kb, weights=weights).featurize(ms3, cands + [[Candidate("Q162255", 0.0)]], [text2] * 4)
    assert feats3[1][0]["coherence"] == pytest.approx(feats[1][0]["coherence"], abs=1e-6)
    assert feats3[3][0]["coherence"] == 0.0
    # alone in its document, or with no weight on it: not computed
    alone = FeatureReranker(kb, weights=weights).featurize(ms[1:2], cands[1:2], [text])[0]
    assert all(x["coherence"] == 0.0 for x in alone)
    off = FeatureReranker(kb, weights=SIMPLE_WEIGHTS).featurize(ms, cands, [text] * 3)
    assert all(x["coherence"] == 0.0 for row in off for x in row)


def test_article_names_take_a_capitalised_the_mid_sentence(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q55", "Netherlands", "country in western Europe", ["the Netherlands", "Holland"], [], 90),
            make_entity("Q30", "United States of America", "country", ["the U.S.", "U.S."], [], 99)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    det = _SpansDetector(["Netherlands", "U.S."])
    reranker = FeatureReranker(kb2, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.0)
    pipe = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=[ArticleNames(kb2)])
    doc = pipe.link_text("Leiden University, Leiden, The Netherlands and the U.S.")
    assert [(m.text, m.qid) for m in doc.mentions] == [("The Netherlands", "Q55"), ("U.S.", "Q30")]
    # a sentence-initial "The" is capitalised for the sentence, not the name
    assert [m.text for m in pipe.link_text("It rained. The Netherlands won.").mentions] == ["Netherlands"]
    off = Pipeline(det, AliasRetriever(kb2), reranker, kb2, coref=None, refiners=[])
    assert [m.text for m in off.link_text("Leiden, The Netherlands").mentions] == ["Netherlands"]


def test_a_capitalised_function_word_mid_sentence_opens_a_title(tmp_path, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q451603", "On Golden Pond", "1981 film by Mark Rydell", [], ["Q11424"], 50),
            make_entity("Q1", "Golden Pond", "a pond", [], [], 5),
            make_entity("Q2685", "Arnold Schwarzenegger", "actor", ["Governor Schwarzenegger", "Schwarzenegger"],
                        ["Q5"], 90)]
    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    rule = ArticleNames(kb2)

    def spans(text, *words):
        ms = [Mention(text.index(w), text.index(w) + len(w), w, "film", 0.9) for w in words]
        return [m.text for m in rule.refine(text, ms)]

    assert spans("Henry Fonda won an Oscar for On Golden Pond.", "Golden Pond") == ["On Golden Pond"]
    # sentence-initial, lower case, or a capitalised word that is no function word: left outside
    assert spans("On Golden Pond won.", "Golden Pond") == ["Golden Pond"]
    assert spans("We swam on Golden Pond.", "Golden Pond") == ["Golden Pond"]
    assert spans("It was Governor Schwarzenegger's day.", "Schwarzenegger") == ["Schwarzenegger"]
    # the KB must spell the longer name, and a word inside another mention is not taken
    assert spans("We sat by Golden Pond, In Golden Pond.", "Golden Pond") == ["Golden Pond"]
    text = "a film, On Golden Pond."
    ms = [Mention(8, 10, "On", "misc", 0.9), Mention(11, 22, "Golden Pond", "film", 0.9)]
    assert [m.text for m in rule.refine(text, ms)] == ["On", "Golden Pond"]


def _span_linker(tmp_path, tiny_detector, ents, show):
    """A KB of ``ents`` and f(text, words, rules) -> show(m) for the mentions of a pipeline whose detector
    finds exactly ``words`` and whose span rules are ``rules`` (classes, built over the KB)."""
    from conftest import write_dump

    build_kb(write_dump(tmp_path / "d.json", ents), tmp_path / "kb", tiny_detector, progress=False)
    kb2 = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    reranker = FeatureReranker(kb2, weights=SIMPLE_WEIGHTS, bias=-2.0, nil_threshold=0.0)

    def texts(text, words, rules):
        doc = Pipeline(_SpansDetector(words), AliasRetriever(kb2), reranker, kb2, coref=None,
                       refiners=[rule(kb2) for rule in rules]).link_text(text)
        return [show(m) for m in doc.mentions]

    return texts


def test_place_qualifiers_join_a_town_and_its_state_but_not_lists_or_datelines(tmp_path, tiny_detector):
    from conftest import make_entity

    ents = [make_entity("Q1546", "Iowa", "state of the United States", ["Ia."], ["Q35657"], 80),
            make_entity("Q1553", "Nebraska", "state of the United States", [], ["Q35657"], 70),
            make_entity("Q36074", "Queensland", "state of Australia", [], ["Q5852411"], 60),
            make_entity("Q408", "Australia", "country in Oceania", [], ["Q6256"], 90),
            make_entity("Q142", "France", "country in Europe", [], ["Q6256"], 95),
            make_entity("Q990", "Muscatine", "city in Iowa", [], ["Q1093829"], 10),
            make_entity("Q991", "Imperia", "town in Italy", [], ["Q747074"], 10)]
    texts = _span_linker(tmp_path, tiny_detector, ents, lambda m: m.text)

    assert texts("Born in Muscatine, Iowa, he left.", ["Muscatine", "Iowa"], [PlaceQualifiers]) == ["Muscatine, Iowa"]
    assert texts("Forests of Queensland, Australia.", ["Queensland", "Australia"], [PlaceQualifiers]) == \
        ["Queensland, Australia"]
    # a list of states, an abbreviated dateline state, a town and its country stay apart
    assert texts("Farms in Iowa, Nebraska.", ["Iowa", "Nebraska"], [PlaceQualifiers]) == ["Iowa", "Nebraska"]
    assert texts("MUSCATINE, Ia. (AP)", ["MUSCATINE", "Ia."], [PlaceQualifiers]) == ["MUSCATINE", "Ia."]
    assert texts("Born in Imperia, France.", ["Imperia", "France"], [PlaceQualifiers]) == ["Imperia", "France"]
    assert texts("Born in Muscatine, Iowa, he left.", ["Muscatine", "Iowa"], [CommaNames]) == \
        ["Muscatine", "Iowa"]


def test_name_extension_grows_a_mention_into_a_longer_kb_name(tmp_path, tiny_detector):
    from conftest import make_entity

    from glinker.surface import name_continuations

    ents = [make_entity("Q241", "Cuba", "country in the Caribbean", ["Cuban"], ["Q6256"], 80),
            make_entity("Q128160", "Cuban Missile Crisis", "1962 confrontation", [], ["Q1190554"], 60),
            make_entity("Q270", "Warsaw", "capital of Poland", [], ["Q515"], 70),
            make_entity("Q41644", "Warsaw Pact", "military alliance", [], ["Q1127126"], 50)]
    texts = _span_linker(tmp_path, tiny_detector, ents, lambda m: (m.text, m.qid))

    assert texts("During the Cuban Missile Crisis, he sailed.", ["Cuban"], [NameExtension]) == \
        [("Cuban Missile Crisis", "Q128160")]
    # a mention inside the grown span is absorbed; one that would be cut keeps the growth from happening
    assert texts("After the Warsaw Pact. Then", ["Warsaw", "Pact"], [NameExtension]) == [("Warsaw Pact", "Q41644")]
    assert texts("the Warsaw Pact Treaty", ["Warsaw", "Pact Treaty"], [NameExtension]) == \
        [("Warsaw", "Q270"), ("Pact Treaty", None)]
    # lower-case words and words the KB does not name with the mention stay outside
    assert texts("a Cuban missile crisis", ["Cuban"], [NameExtension]) == [("Cuban", "Q241")]
    assert texts("Warsaw Poland", ["Warsaw"], [NameExtension]) == [("Warsaw", "Q270")]
    assert texts("During the Cuban Missile Crisis, he sailed.", ["Cuban"], []) == \
        [("Cuban", "Q241")]
    text = "the Bank of America Tower. Next"
    assert [text[:e] for e in name_continuations(text, len("the Bank"))] == \
        ["the Bank of America", "the Bank of America Tower"]
    assert name_continuations("Apollo 11, then", len("Apollo")) == [len("Apollo 11")]
    assert name_continuations("Warsaw\nPact", len("Warsaw")) == []
