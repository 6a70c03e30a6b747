"""The reranker fitting recovers a known decision rule and picks a sensible NIL threshold."""

from __future__ import annotations

import numpy as np
import pytest

from glinker.rerank.fit import MentionExamples, decide, fit_logistic, fit_reranker, inkb_scores


def test_logistic_fit_separates_by_the_informative_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 1] > 0).astype(float)
    w, b = fit_logistic(x, y, l2=0.1)
    assert w[1] > 3 * max(abs(w[0]), abs(w[2]))


def _mention(gold_index, n=3, signal=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.1, size=(n, 2))
    labels = np.zeros(n)
    if gold_index is not None:
        x[gold_index, signal] += 2.0
        labels[gold_index] = 1
    qids = [f"Q{i}" for i in range(n)]
    return MentionExamples(x, labels, qids[gold_index] if gold_index is not None else None, qids)


def test_fit_reranker_links_in_kb_and_rejects_nil():
    train = [_mention(i % 3, seed=i) for i in range(60)]
    held = [_mention(i % 3, seed=100 + i) for i in range(30)] + [_mention(None, seed=200 + i) for i in range(30)]
    report = fit_reranker(train, held, features=("a", "b"))
    assert report["heldout"]["accuracy"] == 100.0
    # with NIL mentions present, a threshold above 0 must beat linking everything
    assert report["heldout"]["precision"] > report["heldout_no_nil"]["precision"]
    picks = decide(held, np.array(list(report["weights"].values())), report["bias"])
    assert inkb_scores(held, picks, report["nil_threshold"])["f1"] == report["heldout"]["f1"]


def test_tune_e2e_picks_the_threshold_that_drops_confident_looking_noise():
    from glinker.evaluate.el import GoldDocument, GoldMention
    from glinker.rerank.fit_e2e import tune_e2e

    docs = [GoldDocument(str(i), "x" * 100, [GoldMention(0, 5, "Q1"), GoldMention(10, 15, "Q2")]) for i in range(4)]
    # per doc: two right links scored 0.8 / 0.6, one non-entity linked with 0.3, one wrong entity at 0.2
    linked = [[(0, 5, "Q1", 0.8, 0.9), (10, 15, "Q2", 0.6, 0.9), (20, 25, "Q9", 0.3, 0.9), (30, 35, "Q8", 0.2, 0.45)]
              for _ in docs]
    res = tune_e2e(docs, linked, kb_has=lambda q: True)
    assert 0.3 < res["nil_threshold"] <= 0.6
    assert res["e2e"]["f1"] == 100.0
    # with the wrong link scored above a right one, the best threshold trades one for the other
    linked[0][2] = (20, 25, "Q9", 0.7, 0.9)
    res = tune_e2e(docs, linked, kb_has=lambda q: True)
    assert res["e2e"]["f1"] < 100.0


def test_tune_e2e_smoothing_prefers_a_plateau_to_a_narrow_peak():
    from glinker.evaluate.el import GoldDocument, GoldMention
    from glinker.rerank.fit_e2e import tune_e2e

    gold = [GoldMention(10 * i, 10 * i + 5, "Q1") for i in range(10)]
    docs = [GoldDocument("d", "x" * 200, gold)]
    right = [(m.start, m.end, "Q1", 0.32 if i < 4 else 0.9, 1.0) for i, m in enumerate(gold)]
    wrong = [(100 + 10 * i, 105 + 10 * i, "Q9", 0.27 if i < 6 else 0.33, 1.0) for i in range(9)]
    # F1 at 0.25: 10 of 19 predictions right, 0.69; at 0.30: 10 of 13, 0.87; from 0.35 to 0.90: 6 of 6, 0.75
    sharp = tune_e2e(docs, [right + wrong], kb_has=lambda q: True, mention_grid=(0.0,))
    smooth = tune_e2e(docs, [right + wrong], kb_has=lambda q: True, mention_grid=(0.0,), smooth=1)
    assert sharp["nil_threshold"] == 0.3 and sharp["e2e"]["f1"] > smooth["e2e"]["f1"]
    assert smooth["nil_threshold"] == 0.35  # (0.87 + 0.75 + 0.75) / 3 beats 0.30's (0.69 + 0.87 + 0.75) / 3


def test_tune_e2e_with_nil_gold_counts_links_on_entities_the_kb_lacks_as_wrong():
    from glinker.evaluate.el import GoldDocument, GoldMention
    from glinker.rerank.fit_e2e import tune_e2e

    # per doc: a right link at 0.8, and a mention of an entity the KB lacks (Q404) linked elsewhere at 0.5
    docs = [GoldDocument(str(i), "x" * 100, [GoldMention(0, 5, "Q1"), GoldMention(10, 15, "Q404")]) for i in range(4)]
    linked = [[(0, 5, "Q1", 0.8, 0.9), (10, 15, "Q7", 0.5, 0.9)] for _ in docs]
    kb_has = {"Q1", "Q7"}.__contains__
    in_kb = tune_e2e(docs, linked, kb_has, mention_grid=(0.0,))
    with_nil = tune_e2e(docs, linked, kb_has, mention_grid=(0.0,), in_kb=False)
    assert in_kb["nil_threshold"] <= 0.5 and in_kb["e2e"]["f1"] == 100.0  # the wrong link is not scored
    assert 0.5 < with_nil["nil_threshold"] <= 0.8 and with_nil["e2e"]["f1"] == 100.0  # dropping it is right


def test_listwise_fit_ranks_by_the_feature_that_separates_within_mentions():
    from glinker.rerank.fit import fit_listwise

    rng = np.random.default_rng(1)
    rows = []
    for i in range(80):
        # feature 0 differs between mentions only (useless for ranking), feature 1 marks the gold candidate
        x = np.column_stack([np.full(4, rng.normal()), rng.normal(scale=0.3, size=4)])
        gold = i % 4
        x[gold, 1] += 1.5
        labels = np.zeros(4)
        labels[gold] = 1
        rows.append(MentionExamples(x, labels, f"Q{gold}", [f"Q{k}" for k in range(4)]))
    w = fit_listwise(rows, l2=0.1)
    assert w[1] > 1.0
    picks = decide(rows, w, 0.0)
    assert sum(q == ex.gold for (q, _), ex in zip(picks, rows)) >= 70


def _peak_mention(seed, n=6):
    """Gold is the candidate whose first feature is closest to 0.5: no linear score ranks that."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 2))
    labels = np.zeros(n)
    labels[int(np.argmin(np.abs(x[:, 0] - 0.5)))] = 1
    qids = [f"Q{i}" for i in range(n)]
    return MentionExamples(x, labels, qids[int(labels.argmax())], qids)


def test_lambdamart_ranks_what_a_linear_score_cannot():
    train = [_peak_mention(i) for i in range(400)]
    held = [_peak_mention(1000 + i) for i in range(100)]
    report = fit_reranker(train, held, features=("a", "b"), ranker="lambdamart")
    assert report["heldout_no_nil"]["accuracy"] >= 80.0
    assert report["heldout_no_nil_linear"]["accuracy"] <= 50.0
    assert report["booster"].feature_name() == ["a", "b"] and report["model_scale"] > 0


def test_reranker_scores_with_a_saved_lambdamart_model(tmp_path, tiny_detector):
    import pytest
    from conftest import BOSTON, write_dump

    from glinker.kb import KnowledgeBase
    from glinker.rerank.fit import fit_lambdamart
    from glinker.rerank.ranker import FEATURES, FeatureReranker, load_ranker
    from glinker.types import Candidate, Mention
    from kb_build.build import build_kb

    # trees trained where the most popular candidate (highest prior) is always right
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(200):
        x = rng.normal(size=(4, len(FEATURES)))
        labels = np.zeros(4)
        labels[int(np.argmax(x[:, FEATURES.index("prior")]))] = 1
        rows.append(MentionExamples(x, labels, "Q0", [f"Q{k}" for k in range(4)]))
    model = tmp_path / "ranker.txt"
    fit_lambdamart(rows).save_model(str(model))

    build_kb(write_dump(tmp_path / "b.json", BOSTON), tmp_path / "kb", tiny_detector, progress=False)
    kb = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    m = Mention(0, 6, "Boston", "location", 0.9)
    cands = [Candidate("Q204289", 0.0), Candidate("Q131371", 0.0), Candidate("Q100", 0.0)]  # band, team, city
    contrary = {"prior": -5.0}  # linear weights alone would pick the least popular
    (linear,) = FeatureReranker(kb, weights=contrary, nil_threshold=0.0).rerank([m], [cands], ["Boston"])
    (trees,) = FeatureReranker(kb, weights=contrary, nil_threshold=0.0, model=str(model)).rerank([m], [cands],
                                                                                                  ["Boston"])
    assert linear.qid == "Q204289" and trees.qid == "Q100"
    assert [c.qid for c, _ in trees.ranked] == ["Q100", "Q131371", "Q204289"]

    # a model over other features is refused with the way out
    other = tmp_path / "other.txt"
    fit_lambdamart(rows, features=[f"f{k}" for k in range(len(FEATURES))]).save_model(str(other))
    with pytest.raises(ValueError, match="refit"):
        load_ranker(other)
    with pytest.raises(FileNotFoundError, match="fit_reranker"):
        load_ranker(tmp_path / "missing.txt")


def test_packaged_models_read_the_features_and_carry_their_calibration(tmp_path):
    import shutil

    import pytest

    from glinker.rerank.boosters import RANKER_DIR, calibration
    from glinker.rerank.defaults import DEFAULT_MODEL, DEFAULT_NIL_MODEL
    from glinker.rerank.nil import NilModel, nil_feature_names
    from glinker.rerank.ranker import FEATURES, load_ranker

    booster = load_ranker(DEFAULT_MODEL)  # raises unless its trees read only features of FEATURES
    assert booster.num_trees() > 0 and set(booster.feature_name()) <= set(FEATURES)
    nil = NilModel(DEFAULT_NIL_MODEL)  # raises unless it reads only features of nil_feature_names()
    assert nil.booster.num_trees() > 0 and set(nil.booster.feature_name()) <= set(nil_feature_names())
    assert "top_context_names" not in nil.booster.feature_name()  # fitted without context_names
    cal = calibration(DEFAULT_MODEL, ("scale", "bias", "span_nil_threshold"))
    assert cal["scale"] > 0 and 0 < cal["span_nil_threshold"] < 1
    assert 0 < calibration(DEFAULT_NIL_MODEL, ("threshold",))["threshold"] < 1
    # a model copied without its calibration is refused, not run with made-up numbers
    shutil.copy(RANKER_DIR / DEFAULT_MODEL, tmp_path / "mine.txt")
    with pytest.raises(FileNotFoundError, match="calibration"):
        calibration(tmp_path / "mine.txt", ("scale",))


def test_tune_e2e_macro_gives_each_benchmark_an_equal_say():
    from glinker.evaluate.el import GoldDocument, GoldMention
    from glinker.rerank.fit_e2e import tune_e2e

    # "big": 9 documents whose right links score 0.5 and a noise link 0.3 -> wants a threshold in (0.3, 0.5];
    # "small": 1 document whose right link scores only 0.25 -> wants one <= 0.25
    docs = [GoldDocument(f"b{i}", "x" * 40, [GoldMention(0, 5, "Q1")]) for i in range(9)]
    docs.append(GoldDocument("s0", "x" * 40, [GoldMention(0, 5, "Q2")]))
    linked = [[(0, 5, "Q1", 0.5, 0.9), (10, 15, "Q9", 0.3, 0.9)] for _ in range(9)] + [[(0, 5, "Q2", 0.25, 0.9)]]
    groups = ["big"] * 9 + ["small"]
    pooled = tune_e2e(docs, linked, kb_has=lambda q: True, mention_grid=(0.0,))
    macro = tune_e2e(docs, linked, kb_has=lambda q: True, mention_grid=(0.0,), groups=groups)
    assert 0.3 < pooled["nil_threshold"] <= 0.5
    assert macro["nil_threshold"] <= 0.25
    assert macro["e2e"]["small"] == 100.0 and macro["e2e_mean_f1"] == round((macro["e2e"]["big"] + 100.0) / 2, 2)


def test_nil_model_learns_to_reject_links_the_ranker_is_sure_of(tmp_path, tiny_detector):
    """Lower-case detections are never right links here, however confident the ranker: the NIL model
    learns it from the mention's shape, and the reranker then leaves such mentions NIL."""
    import pytest
    from conftest import BOSTON, write_dump

    from glinker.kb import KnowledgeBase
    from glinker.rerank.nil import NilModel, fit_nil_model, mention_row, nil_feature_names
    from glinker.rerank.ranker import FEATURES, FeatureReranker
    from glinker.types import Candidate, LinkDecision, Mention
    from kb_build.build import build_kb

    rng = np.random.default_rng(0)
    rows, labels = [], []
    for i in range(400):
        lower = i % 2 == 0
        m = Mention(0, 6, "boston" if lower else "Boston", "location", float(rng.uniform(0.3, 0.9)))
        top = {name: float(rng.normal()) for name in FEATURES}
        rows.append(mention_row(m, "boston" if lower else "Boston", [float(rng.uniform(0.5, 1.0))], top, 1))
        labels.append(0.0 if lower else float(rng.uniform() < 0.9))
    path = tmp_path / "nil.txt"
    fit_nil_model(rows, labels).save_model(str(path))
    model = NilModel(path)
    assert model.booster.feature_name() == list(nil_feature_names())

    build_kb(write_dump(tmp_path / "b.json", BOSTON), tmp_path / "kb", tiny_detector, progress=False)
    kb = KnowledgeBase.open(tmp_path / "kb", expect_fingerprint=tiny_detector.fingerprint)
    cands = [Candidate("Q100", 0.0), Candidate("Q204289", 0.0)]
    weights = {"prior": 5.0}
    text = "Boston and boston"
    ms = [Mention(0, 6, "Boston", "location", 0.8), Mention(11, 17, "boston", "location", 0.8)]
    plain = FeatureReranker(kb, weights=weights, bias=0.0, nil_threshold=0.5).rerank(ms, [cands, cands], [text, text])
    assert [d.qid for d in plain] == ["Q100", "Q100"]
    judged = FeatureReranker(kb, weights=weights, bias=0.0, nil_threshold=0.5, nil_model=str(path)).rerank(
        ms, [cands, cands], [text, text])
    assert [d.qid for d in judged] == ["Q100", None]
    assert judged[0].link_score > 0.5 > judged[1].link_score
    assert [c.qid for c, _ in judged[1].ranked] == [c.qid for c, _ in plain[1].ranked]  # ranking untouched
    # the trace: the same decisions, the best candidate linked or not, and each mention's NIL-model row
    judge = FeatureReranker(kb, weights=weights, bias=0.0, nil_threshold=0.5, nil_model=str(path))
    trace = judge.trace(ms + [ms[0]], [cands, cands, []], [text] * 3)
    assert trace.decisions == judged + [LinkDecision(None, 0.0, ())]
    assert trace.best == ["Q100", "Q100", None]
    assert [len(r) for r in trace.nil_rows[:2]] == [len(nil_feature_names())] * 2 and trace.nil_rows[2] is None
    assert model.predict(trace.nil_rows[:2]).tolist() == [d.link_score for d in judged]
    assert all(set(f) == set(FEATURES) for feats in trace.features for f in feats) and trace.features[2] == []
    # given spans are mentions by definition: the NIL model is not asked, the ranker's probability decides
    given = FeatureReranker(kb, weights=weights, bias=0.0, nil_threshold=0.5, nil_model=str(path),
                            span_nil_threshold=0.5).rerank_spans(ms, [cands, cands], [text, text])
    assert [d.qid for d in given] == ["Q100", "Q100"]
    assert [d.link_score for d in given] == [d.link_score for d in plain]

    other = tmp_path / "other.txt"
    fit_nil_model(rows, labels).save_model(str(other))
    text_model = other.read_text(encoding="utf-8").replace("link_prob", "link_probability")
    other.write_text(text_model, encoding="utf-8")
    with pytest.raises(ValueError, match="refit"):
        NilModel(other)
    with pytest.raises(FileNotFoundError, match="nil_model=true"):
        NilModel(tmp_path / "missing.txt")


def test_models_read_their_own_features_by_name(tmp_path):
    """A model fitted without a feature (before it existed, or left out to measure it) reads its own
    columns of the full rows; a model reading a feature this version does not compute is refused."""
    import pytest

    from glinker.rerank.nil import NilModel, fit_nil_model, nil_feature_names
    from glinker.rerank.ranker import load_ranker

    rng = np.random.default_rng(1)
    names = list(nil_feature_names())
    x = rng.normal(size=(300, len(names)))
    y = (x[:, names.index("top_prior")] > 0).astype(float)  # only the prior decides
    kept = [n for n in names if n != "top_context_names"]
    path = tmp_path / "nil.txt"
    fit_nil_model(x, y, features=kept).save_model(str(path))
    model = NilModel(path)
    assert model.booster.feature_name() == kept
    p = model.predict(x)
    assert ((p > 0.5) == (y > 0)).mean() > 0.9
    shuffled = x.copy()
    shuffled[:, names.index("top_context_names")] = rng.normal(size=len(x))  # a column it does not read
    assert np.array_equal(model.predict(shuffled), p)
    # a model over a feature that does not exist here
    text = path.read_text(encoding="utf-8").replace("top_prior", "top_no_such_feature")
    (tmp_path / "bad.txt").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="top_no_such_feature"):
        NilModel(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="does not compute"):
        load_ranker(tmp_path / "bad.txt")


def test_out_of_kb_mentions_teach_and_measure_the_nil_decision():
    """A detected mention on gold the KB lacks is skipped by default, a wrong-link example with
    ``missing_wrong``, and counted as left NIL only when the NIL decision leaves it unlinked."""
    from glinker.evaluate.el import GoldDocument, GoldMention
    from glinker.rerank.fit_e2e import TracedMention, nil_training_rows, out_of_kb_spans
    from glinker.rerank.leave_one_out import out_of_kb_nil

    text = "Boston met Gotham in Springfield."
    doc = GoldDocument("d", text, [GoldMention(0, 6, "Q100"), GoldMention(11, 17, "Q999"),
                                   GoldMention(21, 32, None)])
    kb_has = {"Q100": True, "Q999": False}.get
    assert out_of_kb_spans(doc, kb_has) == {(11, 17)}  # NIL gold is not "out of the KB"

    def traced(start, end, best, row):
        return TracedMention(start, end, text[start:end], best, 0.9, row, None, (best,), None)

    mentions = [traced(0, 6, "Q100", [1.0]), traced(11, 17, "Q5", [2.0]), traced(21, 32, "Q7", [3.0])]
    rows, labels, _ = nil_training_rows([doc], [mentions], kb_has)
    assert rows == [[1.0]] and labels == [1.0]
    rows, labels, _ = nil_training_rows([doc], [mentions], kb_has, missing_wrong=True)
    assert rows == [[1.0], [2.0]] and labels == [1.0, 0.0]

    class Judge:  # a NIL model reading the row's only column as the link probability
        def predict(self, rows):
            return np.array([r[0] / 4.0 for r in rows])

    assert out_of_kb_nil([doc], [mentions], kb_has, Judge(), threshold=0.6) == (1, 1)  # 0.5 < 0.6: NIL
    assert out_of_kb_nil([doc], [mentions], kb_has, Judge(), threshold=0.4) == (0, 1)  # linked to Q5


def test_benchmark_weights_give_each_benchmark_the_chosen_say():
    """balance 0 weighs every span alike, 1 every benchmark alike, 0.5 in between; a weighted fit differs."""
    from glinker.rerank.leave_one_out import SpanExamples, benchmark_weights, fit_ranker
    from glinker.rerank.ranker import FEATURES

    rng = np.random.default_rng(0)

    def span(gold_first: bool) -> SpanExamples:
        x = rng.normal(size=(3, len(FEATURES)))
        x[0 if gold_first else 1, FEATURES.index("prior")] += 3.0  # "big" links the popular one, "small" not
        return SpanExamples(x, ("Q1", "Q2", "Q3"), np.zeros(3, dtype=bool), "Q1")

    spans = {"big": [span(True) for _ in range(80)], "small": [span(False) for _ in range(20)]}
    assert benchmark_weights(spans, 0.0) is None
    for balance, ratio in ((1.0, 1.0), (0.5, 2.0)):
        w = benchmark_weights(spans, balance)
        say = {n: sum(w(id(s)) for s in v) for n, v in spans.items()}
        assert say["big"] / say["small"] == pytest.approx(ratio)
    flat = [s for v in spans.values() for s in v]
    plain, even = fit_ranker(flat), fit_ranker(flat, weight=benchmark_weights(spans, 1.0))
    x = np.vstack([s.features for s in spans["small"]])
    assert not np.allclose(plain.booster.predict(x), even.booster.predict(x))
