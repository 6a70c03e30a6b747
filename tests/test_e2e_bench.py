"""Pieces behind the end-to-end benchmarks: factorised span MLP, scoring other systems' output, dump subsets."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertModel

from glinker.evaluate.el import GoldDocument, GoldMention, Scored, ed_scope, score_e2e, tally_ed
from glinker.model.network import SpanBiEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def _tiny_model(seed: int = 0) -> SpanBiEncoder:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    return SpanBiEncoder(BertModel(cfg), BertModel(cfg), hidden_size=16, max_width=4, dropout=0.0)


def _concat_then_project(model: SpanBiEncoder, words: torch.Tensor) -> torch.Tensor:
    """The reference's span representation: concatenate start/end, ReLU, then the full MLP per span."""
    marker = model.span_rep_layer.span_rep_layer
    batch, length, dim = words.shape
    width = model.max_width
    start = marker.project_start(words)
    end = torch.nn.functional.pad(marker.project_end(words), (0, 0, 0, width - 1)).unfold(1, width, 1)
    end = end.permute(0, 1, 3, 2)
    cat = torch.cat([start.unsqueeze(2).expand(batch, length, width, dim), end], dim=-1).relu()
    return marker.out_project(cat)


def test_factorised_span_reps_equal_concat_then_project():
    model = _tiny_model().eval()
    words = torch.randn(3, 7, 16)
    words[1, 5:] = 0  # a shorter text: zero padding past its end, as word_states produces
    with torch.no_grad():
        ours, ref = model.span_reps(words), _concat_then_project(model, words)
    assert ours.shape == (3, 7, 4, 16)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()


def test_factorised_span_reps_train_the_same_gradients():
    model = _tiny_model()
    model.train()  # dropout is 0.0, so train mode is deterministic
    words = torch.randn(2, 6, 16)
    grads = []
    for fn in (model.span_reps, lambda w: _concat_then_project(model, w)):
        model.zero_grad()
        fn(words).square().sum().backward()
        grads.append(model.span_rep_layer.span_rep_layer.out_project[0].weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-4)


DOC = GoldDocument("d", "Paris and Boston and Mars", [
    GoldMention(0, 5, "Q90"), GoldMention(10, 16, "Q100"), GoldMention(21, 25, "Q111"), GoldMention(0, 3, None)])


def test_score_e2e_scores_any_systems_output():
    kb_has = {"Q90", "Q100"}.__contains__  # Mars (Q111) is not in the KB: left out
    preds = [[(0, 5, "Q90"), (10, 16, "Q5"), (21, 25, "Q111"), (6, 9, None)]]
    s = score_e2e([DOC], preds, kb_has)
    m = s.metrics()
    # Paris right; Boston wrong (fp + fn); Mars is an out-of-KB gold span, so its prediction is ignored
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert m["left_out"] == {"not_in_kb": 1, "nil_gold": 1}
    assert m["f1"] == 50.0


def test_ed_scope_and_tally():
    kb_has = {"Q90", "Q100"}.__contains__
    scored, skipped = ed_scope(DOC, kb_has)
    assert [m.qid for m in scored] == ["Q90", "Q100"] and sorted(skipped) == ["nil_gold", "not_in_kb"]
    score = Scored()
    tally_ed(score, DOC.id, DOC.text, scored[0], ["Q90", "Q7"], ["Q7", "Q90"], None)  # right top-1, NIL decision
    tally_ed(score, DOC.id, DOC.text, scored[1], ["Q7"], ["Q7", "Q100"], "Q7", errors=True)
    m = score.metrics()
    assert m["accuracy"] == 50.0 and m["nil_predicted"] == 1 and (score.tp, score.fp, score.fn) == (0, 1, 2)
    assert m["candidate_recall"]["@1"] == 50.0 and m["candidate_recall"]["@all"] == 100.0
    assert score.errors[0]["gold"] == "Q100" and score.errors[0]["predicted"] == "Q7"


def test_write_subset_dump_keeps_the_dump_format(tmp_path):
    from bench_glinker_ref import write_subset_dump

    entities = [{"type": "item", "id": f"Q{i}", "labels": {"en": {"language": "en", "value": f"e{i}"}}}
                for i in range(1, 6)]
    dump = tmp_path / "dump.json.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as fh:
        fh.write("[\n" + ",\n".join(json.dumps(e) for e in entities) + "\n]\n")
    out = tmp_path / "subset.json.gz"
    assert write_subset_dump(dump, {"Q2", "Q5", "Q99"}, out) == 2
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        assert [e["id"] for e in json.load(fh)] == ["Q2", "Q5"]  # still one valid JSON array


def test_write_subset_dump_of_an_empty_dump(tmp_path):
    from bench_glinker_ref import write_subset_dump

    dump = tmp_path / "dump.json.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as fh:
        fh.write("[\n]\n")
    out = tmp_path / "subset.json.gz"
    assert write_subset_dump(dump, {"Q1"}, out) == 0
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        assert json.load(fh) == []


def test_label_scores_from_hidden_rows_match_scores_of_span_vectors():
    from glinker.detection.bi_encoder import BiEncoderDetector

    det = BiEncoderDetector(labels=["person", "city", "film"])
    torch.manual_seed(1)
    hidden = torch.randn(50, 4 * det.dim).relu()
    lset = det._label_set(("person", "city", "film"))
    best, arg = det._best_labels_from_hidden(hidden, lset.vectors)
    ref_best, ref_arg = det._best_labels(det.model.span_out(hidden), lset)
    assert torch.equal(arg, ref_arg)
    assert torch.allclose(best, ref_best, atol=1e-4)
    empty = det._best_labels_from_hidden(hidden[:0], lset.vectors)
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def test_context_windows_are_encoded_once_per_distinct_window(tmp_path, tiny_detector):
    from conftest import BOSTON, write_dump

    from glinker.kb import KnowledgeBase
    from glinker.rerank.ranker import FeatureReranker
    from glinker.retrieval.candidates import AliasRetriever
    from glinker.types import Mention
    from kb_build.build import build_kb

    build_kb(write_dump(tmp_path / "boston.json", BOSTON), tmp_path / "kb", tiny_detector, progress=False)
    kb = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    seen: list[list[str]] = []

    class Counting:
        def __getattr__(self, name):
            return getattr(tiny_detector, name)

        def encode_texts_pooled(self, texts, *args, **kwargs):
            seen.append(list(texts))
            return tiny_detector.encode_texts_pooled(texts, *args, **kwargs)

    text = "Boston beat Boston in Boston."  # shorter than a context window: one window for all three
    mentions = [Mention(s, s + 6, "Boston", "organization", 0.9) for s in (0, 12, 22)]
    cands = AliasRetriever(kb).retrieve(mentions, [text] * 3)
    reranker = FeatureReranker(kb, detector=Counting())
    seen.clear()
    ents = reranker._entity_sentences(cands, kb.store.get_many(c.qid for cs in cands for c in cs))
    sims = reranker._context_sims(mentions, cands, [text] * 3, ents)
    assert [len(s) for s in seen if text in s] == [1]
    assert sims[0] == sims[1] == sims[2] and len(sims[0]) == len(cands[0]) > 1
    single = FeatureReranker(kb, detector=tiny_detector)
    (alone,) = single._context_sims(mentions[:1], cands[:1], [text],
                                    single._entity_sentences(cands[:1], kb.store.get_many(c.qid for c in cands[0])))
    assert np.allclose(alone, sims[0], atol=1e-6)


def test_name_encoders_over_one_detector_share_their_memo(tiny_detector):
    from glinker.retrieval.candidates import NameEncoder

    calls: list[list[str]] = []

    class Counting:
        dim = tiny_detector.dim

        def encode_texts_pooled(self, texts, *args, **kwargs):
            calls.append(list(texts))
            return tiny_detector.encode_texts_pooled(texts, *args, **kwargs)

    det = Counting()
    a = NameEncoder(det).encode(["Boston", "Celtics", "Boston"])
    b = NameEncoder(det).encode(["Celtics", "Boston"])  # e.g. the reranker after the name retriever
    assert calls == [["Boston", "Celtics"]]
    assert np.array_equal(b, a[[1, 0]])
    NameEncoder(Counting()).encode(["Boston"])  # another detector: its own memo
    assert len(calls) == 2
