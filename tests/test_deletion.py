"""Deleted entities simulated on kept features (glinker.rerank.deletion): a candidate table without the deleted
entity must be the table the feature code computes for the candidates that remain."""

from __future__ import annotations

import numpy as np
import pytest

from glinker.evaluate.el import GoldDocument, GoldMention
from glinker.rerank.deletion import deleted_mentions, deletion_sample, gold_entities, without
from glinker.rerank.feature_names import FEATURES
from glinker.rerank.features import candidate_features
from glinker.rerank.fit_e2e import TracedMention
from glinker.rerank.nil import MENTION_FEATURES
from glinker.types import Candidate, EntityRecord, Mention

RECORDS = {
    "Q38": EntityRecord("Q38", "Italy", "country in southern Europe", ("Italia",), popularity=90.0),
    "Q172579": EntityRecord("Q172579", "Kingdom of Italy", "former state", ("Italy",), popularity=8.0),
    "Q15180": EntityRecord("Q15180", "Italy", "town in Texas", (), popularity=2.0),
    "Q4": EntityRecord("Q4", "Italians", "people", (), popularity=0.0),
}


def _table(cands, names, types):
    mention = Mention(0, 5, "Italy", "country", 0.9)
    feats = candidate_features(mention, cands, RECORDS, context_sims=[0.5] * len(cands), name_sims=names,
                               type_scores=types)
    return np.array([[f[n] for n in FEATURES] for f in feats])


@pytest.mark.parametrize("gone", ["Q38", "Q172579", "Q4"])
def test_a_deleted_candidate_leaves_the_table_the_feature_code_computes_for_the_rest(gone):
    cands = [Candidate(q, 1.0, dense_score=d, alias_match=True) for q, d in
             (("Q38", 0.9), ("Q172579", 0.7), ("Q15180", None), ("Q4", 0.2))]
    names = [0.95, 0.8, None, 0.3]
    types = [0.9, 0.4, 0.6, None]
    row = [0.0] * len(MENTION_FEATURES)
    row[MENTION_FEATURES.index("n_candidates")] = 4.0
    traced = TracedMention(0, 5, "Italy", "Q38", 0.9, row, _table(cands, names, types),
                           tuple(c.qid for c in cands), np.zeros(4, dtype=bool))

    left = without(traced, [gone])

    keep = [i for i, c in enumerate(cands) if c.qid != gone]
    expected = _table([cands[i] for i in keep], [names[i] for i in keep], [types[i] for i in keep])
    assert left.qids == tuple(cands[i].qid for i in keep)
    np.testing.assert_allclose(left.features, expected)
    assert left.row == row  # the candidate count stays: the retrievers fill their top k again
    assert traced.features.shape == (4, len(FEATURES))  # the kept table itself is not changed


def test_without_popularity_the_rest_share_the_prior_alike_and_none_left_means_no_link():
    cands = [Candidate("Q4", 1.0), Candidate("Q15180", 1.0)]
    traced = TracedMention(0, 5, "Italy", "Q4", 0.9, None, _table(cands, [0.2, 0.1], None), ("Q4", "Q15180"),
                           np.zeros(2, dtype=bool))
    left = without(traced, ["Q15180"])
    assert left.features[0, FEATURES.index("prior")] == pytest.approx(1.0)
    gone = without(left, ["Q4"])
    assert gone.features is None and gone.best is None and gone.row is None
    assert without(traced, ["Q999"]) is traced  # an entity that was no candidate changes nothing


def test_mentions_of_deleted_entities_and_the_samples_drawn():
    doc = GoldDocument("d", "Italy and Rome and Texas.", [GoldMention(0, 5, "Q38"), GoldMention(10, 14, "Q220"),
                                                          GoldMention(19, 24, "Q1439")])
    table = _table([Candidate("Q38", 1.0), Candidate("Q172579", 1.0)], [0.9, 0.8], None)
    traced = [TracedMention(0, 5, "Italy", "Q38", 0.9, None, table, ("Q38", "Q172579"), np.zeros(2, dtype=bool)),
              TracedMention(10, 14, "Rome", "Q220", 0.9, None, table, ("Q38", "Q172579"), np.zeros(2, dtype=bool))]
    in_kb = {"Q38", "Q220"}.__contains__
    found = deleted_mentions(doc, traced, {"Q38", "Q220", "Q1439"}, in_kb)
    assert [m.qids for m in found] == [("Q172579",), ("Q38", "Q172579")]  # Rome's gold was no candidate
    assert len(deleted_mentions(doc, traced, {"Q38", "Q220"}, in_kb, changed_only=True)) == 1
    assert gold_entities([doc], in_kb) == ["Q220", "Q38"]  # Q1439 is not in the KB

    pool = [f"Q{i}" for i in range(100)]
    sample = deletion_sample(pool, 0.3, seed=1, exclude=pool[:50])
    assert len(sample) == 15 and sample.isdisjoint(pool[:50])
    assert sample == deletion_sample(pool, 0.3, seed=1, exclude=pool[:50])
    with pytest.raises(ValueError, match="from 0 to 1"):
        deletion_sample(pool, 1.5)
