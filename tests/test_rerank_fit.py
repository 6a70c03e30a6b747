"""The reranker fitting recovers a known decision rule and picks a sensible NIL threshold."""

from __future__ import annotations

import numpy as np

from glinker.rerank_fit import MentionExamples, decide, fit_logistic, fit_reranker, inkb_scores


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
    from glinker.rerank_fit import tune_e2e

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


def test_listwise_fit_ranks_by_the_feature_that_separates_within_mentions():
    from glinker.rerank_fit import fit_listwise

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
