"""Long documents: linked segment by segment, so a paragraph's links do not depend on the text around it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glinker.kb import KnowledgeBase
from glinker.pipeline import Pipeline
from glinker.rerank.defaults import DEFAULT_MODEL, DEFAULT_NIL_MODEL
from glinker.rerank.ranker import FeatureReranker
from glinker.resolution.coref import PronounResolver
from glinker.retrieval.candidates import AliasRetriever, NameRetriever, UnionRetriever
from glinker.segments import batches, segment_bounds
from glinker.types import Candidate, LinkDecision, Mention
from kb_build.build import build_kb

PARAGRAPH = ("Arnold Schwarzenegger starred in The Terminator before the Governator moved to Boston. "
             "The Boston Celtics won that night, the band Boston played downtown, and Douglas Adams "
             "wrote about all of it for a magazine in Boston.")


def filler(i: int) -> str:
    """A distinct paragraph of about 100 words naming the same entities (they vote in coherence)."""
    return (f"Report {i}. The Celtics lost game {i} in Boston, and the crowd left early. Douglas Noel Adams "
            f"was quoted on page {i + 3} of the paper, next to a review of Terminator and an interview with "
            f"Schwarzenegger about his years in politics. The weather stayed cold for {i % 7 + 2} days and the "
            "harbour froze near the old docks. Nobody in the office could remember a colder winter, and the "
            "trains ran late every morning while the city council argued about salt, budgets and the new "
            f"bridge. Boston fans waited outside for hours; the band Boston cancelled show number {i}.")


def plain(i: int) -> str:
    """A distinct paragraph of about 60 words that names no KB entity."""
    return (f"Note {i}. The committee met again on the third floor and read the minutes aloud. Somebody "
            f"brought coffee for {i + 4} guests, the projector failed twice, and the chair asked everyone to "
            "keep their remarks short. After lunch the discussion turned to the garden, the leaking roof and "
            "the question of who would water the plants during the long summer holidays.")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_model_dir):
    """The real pipeline pieces on the tiny model: KB-alias detection with the bi-encoder's span vectors and
    labels (``UnionDetector``; its random heads propose nothing themselves at this threshold, so text
    without KB names has no mentions), alias ∪ name retrieval, the packaged LambdaMART ranker and NIL
    model, pronoun coreference."""
    from conftest import BOSTON, write_dump

    from glinker.detection.alias import UnionDetector
    from glinker.detection.bi_encoder import BiEncoderDetector

    root = tmp_path_factory.mktemp("long")
    det = BiEncoderDetector(str(tiny_model_dir), labels=["person", "location", "organization"], threshold=0.9)
    build_kb(write_dump(root / "boston.json", BOSTON), root / "kb", det, progress=False)
    kb = KnowledgeBase.open(root / "kb", expect_fingerprint=det.fingerprint)
    reranker = FeatureReranker(kb, detector=det, model=DEFAULT_MODEL, nil_model=DEFAULT_NIL_MODEL)
    retriever = UnionRetriever([AliasRetriever(kb, top_k=32), NameRetriever(kb, det, top_k=32)])
    return Pipeline(UnionDetector(det, kb), retriever, reranker, kb, coref=PronounResolver(kb))


def _variant(pipeline, **kwargs) -> Pipeline:
    return Pipeline(pipeline.detector, pipeline.retriever, pipeline.reranker, pipeline.kb, coref=pipeline.coref,
                    **kwargs)


def _links(mentions, shift=0):
    return [(m.start - shift, m.end - shift, m.text, m.label, m.qid) for m in mentions]


def test_a_paragraph_links_the_same_alone_and_inside_a_20000_word_document(pipeline):
    alone = pipeline.link_text(PARAGRAPH)
    assert len(alone.mentions) >= 6 and sum(m.qid is not None for m in alone.mentions) >= 3, \
        "the paragraph must have links"
    # text without KB names within the neighbourhood, then paragraphs naming the same entities
    quiet = [plain(i) for i in range(8)]
    assert len("\n\n".join(quiet)) > pipeline.neighbourhood_chars
    before, after = [filler(i) for i in range(105)], [filler(i) for i in range(105, 210)]
    text = "\n\n".join(before + quiet + [PARAGRAPH] + quiet[::-1] + after)
    assert len(text.split()) > 20_000 and len(text) > 10 * pipeline.whole_chars
    doc = pipeline.link_text(text)
    lo = text.index(PARAGRAPH)
    inside = [m for m in doc.mentions if lo <= m.start < lo + len(PARAGRAPH)]
    assert _links(inside, lo) == _links(alone.mentions)
    assert [m.score for m in inside] == pytest.approx([m.score for m in alone.mentions], abs=1e-5)
    assert [m.link_score for m in inside] == pytest.approx([m.link_score for m in alone.mentions], abs=1e-5)
    # the other paragraphs are linked too, in order, at their own offsets
    assert len(doc.mentions) > 150 * len(alone.mentions)
    assert all(text[m.start : m.end] == m.text for m in doc.mentions)
    assert [m.start for m in doc.mentions] == sorted(m.start for m in doc.mentions)


def test_a_document_up_to_whole_chars_is_linked_whole_as_before(pipeline):
    text = "\n\n".join([filler(1), PARAGRAPH, filler(2)])
    assert len(text) < pipeline.whole_chars
    default = pipeline.link_text(text)
    whole = _variant(pipeline, whole_chars=None).link_text(text)
    assert default.mentions and _links(default.mentions) == _links(whole.mentions)
    assert [m.link_score for m in default.mentions] == [m.link_score for m in whole.mentions]


def test_long_documents_give_the_same_links_in_any_batch_size_and_coherence_crosses_paragraphs(pipeline):
    # a small long document: linked in pieces from 1,000 characters on, votes from within 700 (one paragraph)
    small = {"whole_chars": 1000, "neighbourhood_chars": 700}
    text = "\n\n".join([filler(i) for i in range(4)] + [PARAGRAPH] + [filler(i) for i in range(4, 8)])
    one_call = _variant(pipeline, batch_chars=len(text), **small).link_text(text)
    per_paragraph = _variant(pipeline, batch_chars=1, **small).link_text(text)  # each with its neighbours
    assert one_call.mentions and _links(per_paragraph.mentions) == _links(one_call.mentions)
    assert [m.link_score for m in per_paragraph.mentions] == pytest.approx(
        [m.link_score for m in one_call.mentions], abs=1e-5)
    # the neighbourhood, not the paragraph, is what votes: without it the scores move
    alone = _variant(pipeline, batch_chars=len(text), whole_chars=1000, neighbourhood_chars=0).link_text(text)
    assert [x[:4] for x in _links(alone.mentions)] == [x[:4] for x in _links(one_call.mentions)]
    assert [m.link_score for m in alone.mentions] != pytest.approx([m.link_score for m in one_call.mentions],
                                                                   abs=1e-3)


def _check_segments(text: str, piece_chars: int) -> list[tuple[int, int]]:
    bounds = segment_bounds(text, 0, piece_chars)
    if not text:  # no longer than whole_chars: the text itself
        assert bounds == [(0, 0)]
        return bounds
    assert all(0 < b - a <= piece_chars for a, b in bounds)
    assert all(0 <= a < b <= len(text) for a, b in bounds)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(bounds, bounds[1:]))
    covered = set()
    for a, b in bounds:
        covered.update(range(a, b))
    assert all(ch.isspace() for i, ch in enumerate(text) if i not in covered)  # nothing but whitespace is lost
    return bounds


def test_segments_are_paragraphs_then_lines_sentences_and_words():
    assert segment_bounds("short text\n\nsecond paragraph", 100, 5) == [(0, 28)]  # short: whole
    assert segment_bounds("x" * 50, None, 5) == [(0, 50)]
    text = "First one here.\n\n  Second paragraph.  \n \n\nThird."
    assert [text[a:b] for a, b in _check_segments(text, 40)] == ["First one here.", "Second paragraph.", "Third."]
    long_line = "Alpha beta gamma. Delta epsilon! Zeta eta theta? Iota kappa lambda mu."
    assert [long_line[a:b] for a, b in _check_segments(long_line, 35)] == [
        "Alpha beta gamma. Delta epsilon!", "Zeta eta theta?", "Iota kappa lambda mu."]
    # a sentence longer than a piece: runs of words
    assert [long_line[a:b] for a, b in _check_segments(long_line, 12)][:3] == ["Alpha beta", "gamma. Delta", "epsilon!"]
    lines = "one two three\nfour five six\nseven eight"
    assert [lines[a:b] for a, b in _check_segments(lines, 28)] == ["one two three\nfour five six", "seven eight"]
    assert _check_segments("a" * 25, 10) == [(0, 10), (10, 20), (20, 25)]
    with pytest.raises(ValueError, match="at least 1"):
        segment_bounds("x" * 50, 10, 0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .!\n\t"), max_size=300), st.integers(1, 40))
def test_segments_cover_the_text_in_order_and_fit_the_limit(text, piece_chars):
    _check_segments(text, piece_chars)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 40)), min_size=1, max_size=40), st.integers(1, 120),
       st.integers(0, 60))
def test_batches_own_every_segment_once_and_hold_its_neighbourhood(gaps_and_lengths, batch_chars, reach):
    bounds, pos = [], 0
    for gap, length in gaps_and_lengths:
        bounds.append((pos + gap, pos + gap + length))
        pos += gap + length
    owned = []
    for a, i, j, b in batches(bounds, batch_chars, reach):
        assert 0 <= a <= i < j <= b <= len(bounds)
        owned += range(i, j)
        assert j == len(bounds) or bounds[j - 1][1] - bounds[i][0] >= batch_chars  # big enough unless at the end
        lo, hi = bounds[i][0] - reach, bounds[j - 1][1] + reach
        # every segment with text within reach of the batch is linked along, no other
        assert [k for k in range(len(bounds)) if k < i and bounds[k][1] > lo] == list(range(a, i))
        assert [k for k in range(len(bounds)) if k >= j and bounds[k][0] <= hi] == list(range(j, b))
    assert owned == list(range(len(bounds)))


def test_coherence_votes_come_only_from_mentions_within_reach(pipeline):
    kb = pipeline.kb
    gap = " filler" * 30  # 210 characters
    text = "Arnold Schwarzenegger" + gap + " The Terminator" + gap + " Boston"
    ms = [Mention(0, 21, "Arnold Schwarzenegger", "person", 0.9),
          Mention(text.index("The Terminator"), text.index("The Terminator") + 14, "The Terminator", "film", 0.9),
          Mention(text.index("Boston"), len(text), "Boston", "location", 0.9)]
    cands = [[Candidate("Q2685", 0.0)], [Candidate("Q162255", 0.0)], [Candidate("Q100", 0.0)]]
    weights = {"prior": 1.0, "coherence": 1.0}
    near = FeatureReranker(kb, weights=weights, coherence_chars=300).featurize(ms, cands, [text] * 3)
    every = FeatureReranker(kb, weights=weights, coherence_chars=None).featurize(ms, cands, [text] * 3)
    # the film is within reach of both; Arnold and Boston (450 characters apart) only of the film
    film_only = FeatureReranker(kb, weights=weights).featurize(ms[:2], cands[:2], [text] * 2)
    assert near[0][0]["coherence"] == pytest.approx(film_only[0][0]["coherence"], abs=1e-6)
    assert near[0][0]["coherence"] != pytest.approx(every[0][0]["coherence"], abs=1e-4)
    assert near[1][0]["coherence"] == pytest.approx(every[1][0]["coherence"], abs=1e-6)
    far = FeatureReranker(kb, weights=weights, coherence_chars=100).featurize(ms, cands, [text] * 3)
    assert all(row[0]["coherence"] == 0.0 for row in far)


def test_pronouns_find_antecedents_in_the_previous_segment(pipeline):
    resolver = PronounResolver(pipeline.kb, window_chars=100)
    ms = [Mention(0, 6, "Arnold", "person", 0.9), Mention(50, 56, "Boston", "location", 0.9),
          Mention(90, 92, "he", "person", 0.9), Mention(95, 97, "it", "miscellaneous", 0.9),
          Mention(300, 302, "he", "person", 0.9)]
    ds = [LinkDecision("Q2685", 0.9), LinkDecision("Q100", 0.8), LinkDecision(None, 0.0),
          LinkDecision(None, 0.0), LinkDecision(None, 0.0)]
    whole = resolver.resolve(ms, ds)
    assert [d.qid for d in whole] == ["Q2685", "Q100", "Q2685", "Q100", None]  # the last one is out of reach
    split = resolver.resolve(ms[:2], ds[:2]) + resolver.resolve(ms[2:], ds[2:], list(zip(ms[:2], ds[:2])))
    assert [d.qid for d in split] == [d.qid for d in whole]
    assert [d.qid for d in resolver.resolve(ms[2:], ds[2:])] == [None, None, None]


def test_tracing_a_batch_with_a_long_document_matches_what_the_pipeline_links(pipeline):
    """The fitting code's trace of a run (``trace_e2e``) gives each mention the reranker call that decided it,
    also when a long document, linked in segments with neighbours and after the batch's whole documents, comes
    first in the batch."""
    import copy

    from glinker.evaluate.el import GoldDocument
    from glinker.rerank.fit_e2e import trace_e2e
    from glinker.types import Document

    small = _variant(pipeline, whole_chars=1000, neighbourhood_chars=700, batch_chars=1500)
    long_text = "\n\n".join([filler(i) for i in range(3)] + [PARAGRAPH] + [filler(i) for i in range(3, 6)])
    texts = [long_text, PARAGRAPH, filler(9)]
    assert len(long_text) > small.whole_chars >= max(len(t) for t in texts[1:])
    traced = trace_e2e(small, [GoldDocument(f"d{i}", t, []) for i, t in enumerate(texts)])
    untuned = copy.copy(small)
    untuned.reranker = copy.copy(small.reranker)
    untuned.reranker.nil_threshold = 0.0
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    untuned.link_batch(docs)
    assert small.observer is None  # the pipeline traced was a copy
    for doc, mentions in zip(docs, traced):
        assert [(m.start, m.end, m.text) for m in mentions] == [(m.start, m.end, m.text) for m in doc.mentions]
        best = [m.best for m in mentions]
        assert [m.qid for m in doc.mentions if not m.label == "pronoun"] == \
            [q if q is not None and not m.ruled_out else None
             for q, m, d in zip(best, mentions, doc.mentions) if not d.label == "pronoun"]
    assert sum(len(m) for m in traced) > 20 and len(traced[0]) > 3 * len(traced[1])


def test_a_ranker_that_does_not_read_context_sim_never_encodes_context_windows(pipeline, tmp_path):
    """Models fitted without ``context_sim`` spare the label-tower pass over context windows; the coherence
    first pass then goes without it too, traced or not, so a trace has the coherence the pipeline uses."""
    import numpy as np

    from glinker.rerank.feature_names import FEATURES
    from glinker.rerank.fit import MentionExamples, fit_lambdamart
    from glinker.rerank.nil import fit_nil_model, nil_feature_names

    rng = np.random.default_rng(0)
    kept = [n for n in FEATURES if n not in ("context_sim", "context_names")]
    rows = [MentionExamples(rng.normal(size=(4, len(kept))), np.array([1.0, 0, 0, 0]), "Q1", ["Q1", "Q2", "Q3", "Q4"])
            for _ in range(60)]
    fit_lambdamart(rows, kept).save_model(str(tmp_path / "ranker.txt"))
    names = [n for n in nil_feature_names() if n not in ("top_context_sim", "top_context_names")]
    x = rng.normal(size=(200, len(nil_feature_names())))
    fit_nil_model(x, (x[:, 0] > 0).astype(float), features=names).save_model(str(tmp_path / "nil.txt"))
    reranker = FeatureReranker(pipeline.kb, detector=pipeline.detector, model=str(tmp_path / "ranker.txt"),
                               nil_model=str(tmp_path / "nil.txt"))
    assert "context_sim" not in reranker._first_pass and reranker._first_pass  # the other weights stay
    encoded = []
    original = reranker._context_sims
    reranker._context_sims = lambda *a: encoded.append(1) or original(*a)
    linked = _variant(pipeline)
    linked.reranker = reranker
    doc = linked.link_text(PARAGRAPH)
    assert doc.mentions and not encoded  # linking never encoded a context window
    mentions = pipeline.detector.detect([PARAGRAPH], pipeline.labels)[0]
    cands = pipeline.retriever.retrieve(mentions, [PARAGRAPH] * len(mentions))
    plain = reranker.featurize(mentions, cands, [PARAGRAPH] * len(mentions))
    traced = reranker.trace(mentions, cands, [PARAGRAPH] * len(mentions)).features
    assert encoded  # a trace computes every feature
    for a, b in zip(plain, traced):
        assert [f["coherence"] for f in a] == [f["coherence"] for f in b]
        assert all(f["context_sim"] == 0.0 for f in a)
