"""EL evaluation: readers (ELEVANT JSONL, NIF/Turtle) and metrics on hand-checked cases."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from glinker.evaluate.el import GoldDocument, GoldMention, evaluate_e2e, evaluate_ed, load_benchmark
from glinker.pipeline import Pipeline
from glinker.types import Candidate, LinkDecision, LinkedMention, Mention


def test_elevant_reader(tmp_path):
    p = tmp_path / "x.benchmark.jsonl"
    p.write_text(json.dumps({"id": 7, "text": "Louis VIII of Hesse met Boston.", "labels": [
        {"id": 0, "span": [0, 18], "entity_id": "Q213677", "children": [1]},
        {"id": 1, "span": [14, 18], "entity_id": "Q693551", "parent": 0},
        {"id": 2, "span": [23, 29], "entity_id": "Unknown3", "optional": False},
        {"id": 3, "span": [0, 5], "entity_id": "Q1", "optional": True},
    ]}) + "\n")
    (doc,) = load_benchmark(p)
    assert doc.id == "7"
    assert doc.mentions == [GoldMention(0, 18, "Q213677"), GoldMention(14, 18, "Q693551", optional=True),
                            GoldMention(23, 29, None), GoldMention(0, 5, "Q1", optional=True)]


def test_nif_reader(tmp_path):
    p = tmp_path / "c.ttl"
    p.write_text("""@prefix nif: <http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#> .
@prefix itsrdf: <http://www.w3.org/2005/11/its/rdf#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<http://ex.org/doc/1> a nif:Context ; nif:isString "Paris is in France." .
<http://ex.org/doc/1#char=0,5> a nif:Phrase ; nif:referenceContext <http://ex.org/doc/1> ;
    nif:beginIndex "0"^^xsd:nonNegativeInteger ; nif:endIndex "5"^^xsd:nonNegativeInteger ;
    itsrdf:taIdentRef <http://www.wikidata.org/entity/Q90> .
<http://ex.org/doc/1#char=12,18> a nif:Phrase ; nif:referenceContext <http://ex.org/doc/1> ;
    nif:beginIndex "12"^^xsd:nonNegativeInteger ; nif:endIndex "18"^^xsd:nonNegativeInteger ;
    itsrdf:taIdentRef <http://example.org/notwikidata> .
""")
    (doc,) = load_benchmark(p)
    assert doc.text == "Paris is in France."
    assert doc.mentions == [GoldMention(0, 5, "Q90"), GoldMention(12, 18, None)]


class _Store:
    def __init__(self, qids):
        self.qids = set(qids)

    def get_many(self, qids):
        return {q: SimpleNamespace(label=q, description="") for q in qids if q in self.qids}


class _KB:
    def __init__(self, qids):
        self.store = _Store(qids)


class _Pipe(Pipeline):
    """A pipeline whose stages answer from a fixed table, so the metric arithmetic can be checked by hand."""

    def __init__(self, kb_qids, answers, detected=()):
        super().__init__(detector=self, retriever=self, reranker=self, kb=_KB(kb_qids), batch_size=8, refiners=[])
        self.answers = answers  # (start, end) -> qid or None
        self.detected = detected

    def encode_spans(self, texts, spans, labels=None):
        return [[Mention(s, e, texts[0][s:e], "x", 1.0) for s, e in spans[0]]]

    def retrieve(self, mentions, contexts):
        return [[Candidate(self.answers[(m.start, m.end)], 1.0)] if self.answers.get((m.start, m.end)) else []
                for m in mentions]

    def rerank(self, mentions, cands, contexts):
        return [LinkDecision(c[0].qid, 1.0, ((c[0], 1.0),)) if c else LinkDecision(None, 0.0, ()) for c in cands]

    def link_batch(self, docs):
        for d in docs:
            d.mentions = [LinkedMention(s, e, d.text[s:e], "x", 1.0, q) for (s, e, q) in self.detected]


DOC = GoldDocument("d", "Boston and Paris and Mars and Zork", [
    GoldMention(0, 6, "Q100"),       # in KB
    GoldMention(11, 16, "Q90"),      # in KB
    GoldMention(21, 25, "Q111"),     # not in KB -> left out
    GoldMention(30, 34, None),       # NIL gold -> left out
])


def test_ed_accuracy_and_candidate_recall():
    pipe = _Pipe({"Q100", "Q90"}, {(0, 6): "Q100", (11, 16): "Q999"})
    s = evaluate_ed(pipe, [DOC], errors=True)
    m = s.metrics()
    assert m["accuracy"] == 50.0 and m["scored_mentions"] == 2
    assert m["left_out"] == {"not_in_kb": 1, "nil_gold": 1}
    assert m["candidate_recall"]["@1"] == 50.0
    assert m["precision"] == 50.0 and m["recall"] == 50.0
    assert len(s.errors) == 1 and s.errors[0]["gold"] == "Q90"


def test_ed_without_in_kb_scores_every_qid():
    pipe = _Pipe({"Q100", "Q90"}, {(0, 6): "Q100", (11, 16): "Q90"})
    m = evaluate_ed(pipe, [DOC], in_kb=False).metrics()
    assert m["scored_mentions"] == 3 and m["accuracy"] == pytest.approx(66.67)


def test_e2e_strong_matching():
    detected = [(0, 6, "Q100"),     # TP
                (11, 16, "Q91"),    # wrong QID: FP and the gold is FN
                (21, 25, "Q111"),   # on an out-of-KB gold span: ignored
                (2, 6, "Q100")]     # wrong span: FP
    m = evaluate_e2e(_Pipe({"Q100", "Q90"}, {}, detected), [DOC]).metrics()
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 1)
    assert m["precision"] == pytest.approx(33.33) and m["recall"] == 50.0 and m["f1"] == 40.0


def test_ed_accuracy_ignores_nil_but_f1_does_not():
    class _NilPipe(_Pipe):
        def rerank(self, mentions, cands, contexts):  # right entity ranked first, but below the NIL threshold
            return [LinkDecision(None, 0.1, ((c[0], 0.1),)) for c in cands]

    m = evaluate_ed(_NilPipe({"Q100", "Q90"}, {(0, 6): "Q100", (11, 16): "Q90"}), [DOC]).metrics()
    assert m["accuracy"] == 100.0 and m["recall"] == 0.0 and m["nil_predicted"] == 2


def test_evaluation_span_limits_what_is_scored(tmp_path):
    from glinker.evaluate.el import score_e2e

    p = tmp_path / "x.benchmark.jsonl"
    text = "Boston fans met Boston players in Boston."
    p.write_text(json.dumps({"id": 1, "text": text, "evaluation_span": [11, 30], "labels": [
        {"id": 0, "span": [16, 22], "entity_id": "Q100"},
        {"id": 1, "span": [34, 40], "entity_id": "Q100"},  # outside the annotated range
    ]}) + "\n")
    (doc,) = load_benchmark(p)
    assert doc.evaluation_span == (11, 30) and doc.in_evaluation_span(16, 22) and not doc.in_evaluation_span(0, 6)
    preds = [(0, 6, "Q100"),     # outside: not a false positive
             (16, 22, "Q100"),   # TP
             (23, 30, "Q9")]     # inside, no gold: FP
    m = score_e2e([doc], [preds], lambda q: True).metrics()
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 0)
    assert m["left_out"] == {"outside_evaluation_span": 1}


def test_out_of_kb_gold_is_nil_gold_and_its_nil_decisions_are_counted():
    from glinker.evaluate.el import GoldDocument, GoldMention, score_e2e

    text = "Paris met Brigitte Macron and Emmanuel Macron."
    doc = GoldDocument("d", text, [GoldMention(0, 5, "Q90"), GoldMention(10, 25, "Q999"),
                                   GoldMention(30, 45, "Q3052772")])
    kb_has = {"Q90", "Q3052772"}.__contains__  # Brigitte Macron (Q999) is not in the KB
    linked = [(0, 5, "Q90"), (10, 25, "Q3052772"), (30, 45, None)]  # links the out-of-KB one, NILs an in-KB one
    in_kb = score_e2e([doc], [linked], kb_has).metrics()
    assert (in_kb["tp"], in_kb["fp"], in_kb["fn"]) == (1, 0, 1)  # the out-of-KB span is ignored in-KB
    assert in_kb["nil"] == {"out_of_kb_detected": 1, "left_nil": 0, "linked": 1, "in_kb_left_nil": 1,
                            "recall": 0.0, "precision": 0.0}
    nil_gold = score_e2e([doc], [linked], kb_has, in_kb=False).metrics()
    assert (nil_gold["tp"], nil_gold["fp"], nil_gold["fn"]) == (1, 1, 1)  # the link there is now a false positive
    assert nil_gold["left_out"] == {"nil_gold_not_in_kb": 1}
    right = score_e2e([doc], [[(0, 5, "Q90"), (10, 25, None), (30, 45, "Q3052772")]], kb_has, in_kb=False).metrics()
    assert (right["tp"], right["fp"], right["fn"]) == (2, 0, 0) and right["nil"]["recall"] == 100.0
