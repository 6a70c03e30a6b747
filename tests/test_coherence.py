"""The coherence features computed a text at a time equal the per-mention definition."""

from __future__ import annotations

import numpy as np
import pytest

from glinker.rerank.coherence import add_coherence, same_context
from glinker.types import Mention

WEIGHTS = {"prior": 2.0, "alias_match": 1.0, "coherence": 1.0}


def _reference(mentions, contexts, ents, feats, voters):
    """One product per mention with its voters' mixtures, as the features are defined."""
    out = {}
    for i, js in enumerate(voters):
        others = []
        for j in js:
            if j == i or mentions[j].text.lower() == mentions[i].text.lower():
                continue
            z = np.array([sum(w * f[n] for n, w in WEIGHTS.items() if n != "coherence") for f in feats[j]])
            p = np.exp(z - z.max())
            others.append((p / p.sum()) @ ents[j][0])
        if others:
            sims = ents[i][0] @ np.stack(others).T
            out[i] = (sims.mean(axis=1), sims.max(axis=1))
    return out


@pytest.mark.parametrize("cells", [1 << 22, 1])  # 1: a product per mention, as a long text's would be
@pytest.mark.parametrize("given_voters", [False, True])
def test_coherence_matches_the_per_mention_products(given_voters, cells, monkeypatch):
    monkeypatch.setattr("glinker.rerank.coherence._PRODUCT_CELLS", cells)
    rng = np.random.default_rng(0)
    names = ["Boston", "Celtics", "Boston", "Larry Bird", "he", "Paris", "Lyon", "Nice"]
    contexts = ["a"] * 5 + ["b"] * 3
    mentions = [Mention(10 * k, 10 * k + 3, t, "location", 0.9) for k, t in enumerate(names)]
    ents, feats = [], []
    for k in range(len(names)):
        c = 1 + k % 4
        e = rng.normal(size=(c, 8)).astype(np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        ents.append((e, np.ones(c, bool)) if k != 6 else None)  # mention 6: no embeddings, no vote
        feats.append([{"prior": float(rng.random()), "alias_match": float(rng.random() < 0.5), "coherence": 0.0,
                       "coherence_max": 0.0} for _ in range(c)])
    votes = [e is not None and m.text != "he" for e, m in zip(ents, mentions)]
    voters = [[j for j in range(len(names)) if abs(j - i) <= 2] for i in range(len(names))] if given_voters else None
    add_coherence(mentions, contexts, ents, feats, WEIGHTS, voters)
    groups = voters if given_voters else same_context(mentions, contexts, votes, None)
    voting = [[j for j in js if votes[j]] if votes[i] else [] for i, js in enumerate(groups)]
    want = _reference(mentions, contexts, ents, feats, voting)
    assert want  # some mentions have voters
    for i, row in enumerate(feats):
        if i in want:
            assert [f["coherence"] for f in row] == pytest.approx(want[i][0].tolist(), abs=1e-12)
            assert [f["coherence_max"] for f in row] == pytest.approx(want[i][1].tolist(), abs=1e-12)
        else:
            assert all(f["coherence"] == 0.0 for f in row)
