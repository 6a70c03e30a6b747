"""Rerankers: order each mention's candidates and decide NIL."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from glinker.kb import KnowledgeBase
from glinker.kb.normalize import normalize_alias
from glinker.types import Candidate, EntityRecord, LinkDecision, Mention


class Reranker(Protocol):
    """Scores candidates per mention and picks one entity or NIL."""

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str]
    ) -> list[LinkDecision]: ...


class NoReranker:
    """Keeps retrieval order and links the first candidate; NIL only when there is none."""

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str]
    ) -> list[LinkDecision]:
        """Top-1 in retrieval order."""
        out = []
        for cands in candidates:
            ranked = tuple((c, c.score) for c in cands)
            out.append(LinkDecision(cands[0].qid, cands[0].score, ranked) if cands else LinkDecision(None, 0.0, ()))
        return out


FEATURES = ("dense", "dense_gap", "dense_rank", "label_match", "alias_match", "prior", "log_popularity",
            "context_sim")

# Learned with scripts/fit_reranker.py on the shared dev benchmarks (default model, alias
# candidates, arnold KB);
# conf/reranker/feature.yaml holds the same values.
DEFAULT_WEIGHTS: dict[str, float] = {
    "dense": -0.0969,
    "dense_gap": 1.0141,
    "dense_rank": 1.6248,
    "label_match": 1.144,
    "alias_match": -0.0,
    "prior": 5.8175,
    "log_popularity": 0.0219,
    "context_sim": 2.5829,
}
DEFAULT_BIAS = -5.0761
DEFAULT_NIL_THRESHOLD = 0.75


def candidate_features(
    mention: Mention,
    cands: Sequence[Candidate],
    records: Mapping[str, EntityRecord],
    context_sims: Sequence[float] | None = None,
) -> list[dict[str, float]]:
    """Feature dicts (names in :data:`FEATURES`) for one mention's candidates.

    ``context_sims``: per candidate, cosine between the mention's context and the
    entity's sentence embedding (0 when unavailable).
    """
    norm = normalize_alias(mention.text)
    dense = [c.dense_score for c in cands]
    known = [d for d in dense if d is not None]
    top = max(known) if known else 0.0
    order = sorted(range(len(cands)), key=lambda i: -(dense[i] if dense[i] is not None else -math.inf))
    rank = {i: r for r, i in enumerate(order)}
    pops = [records[c.qid].popularity if c.qid in records else 0.0 for c in cands]
    total = sum(pops)
    feats = []
    for i, c in enumerate(cands):
        rec = records.get(c.qid)
        label_match = rec is not None and normalize_alias(rec.label) == norm
        alias_match = c.alias_match or (rec is not None and (label_match or any(normalize_alias(a) == norm for a in rec.aliases)))
        d = dense[i]
        feats.append({
            "dense": d if d is not None else top,
            "dense_gap": (d - top) if d is not None else 0.0,
            "dense_rank": 1.0 / (1.0 + rank[i]) if d is not None else 0.0,
            "label_match": float(label_match),
            "alias_match": float(alias_match),
            "prior": pops[i] / total if total > 0 else 1.0 / len(cands),
            "log_popularity": math.log1p(max(0.0, pops[i])),
            "context_sim": float(context_sims[i]) if context_sims is not None else 0.0,
        })
    return feats


class FeatureReranker:
    """Logistic combination of bi-encoder, alias and popularity features, with a NIL threshold.

    Args:
        kb: The opened knowledge base (records for alias and popularity features).
        weights: Feature weights (missing features weigh 0); defaults are the learned ones.
        bias: Intercept.
        nil_threshold: Link only when the best candidate's probability reaches this.
        detector: Encodes mention contexts for ``context_sim`` (injected by the config builder).
        context_chars: Characters of text on each side of a mention used as its context.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        weights: Mapping[str, float] | None = None,
        bias: float = DEFAULT_BIAS,
        nil_threshold: float = DEFAULT_NIL_THRESHOLD,
        detector=None,
        context_chars: int = 200,
    ) -> None:
        self.kb = kb
        self.detector = getattr(detector, "detector", detector)  # a union detector's bi-encoder
        self.context_chars = int(context_chars)
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown reranker features {sorted(unknown)}; known: {list(FEATURES)}")
        self.bias = float(bias)
        self.nil_threshold = float(nil_threshold)

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str]
    ) -> list[LinkDecision]:
        """Score all candidates (records fetched in one pass) and apply the NIL threshold."""
        out = []
        for mention, cands, feats in zip(mentions, candidates, self.featurize(mentions, candidates, contexts)):
            if not cands:
                out.append(LinkDecision(None, 0.0, ()))
                continue
            probs = [self._prob(f) for f in feats]
            ranked = tuple(sorted(zip(cands, probs), key=lambda cp: -cp[1]))
            best, p = ranked[0]
            out.append(LinkDecision(best.qid if p >= self.nil_threshold else None, p, ranked))
        return out

    def featurize(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str]
    ) -> list[list[dict[str, float]]]:
        """Feature dicts of every candidate of every mention (batched KB reads and context encoding)."""
        records = self.kb.store.get_many(c.qid for cands in candidates for c in cands)
        sims = self._context_sims(mentions, candidates, contexts, records)
        return [candidate_features(m, cands, records, sims[i]) if cands else []
                for i, (m, cands) in enumerate(zip(mentions, candidates))]

    def _context_sims(self, mentions, candidates, contexts, records) -> list[list[float] | None]:
        if self.detector is None or self.kb.sentences is None or not hasattr(self.detector, "encode_texts_pooled"):
            return [None] * len(mentions)
        cc = self.context_chars
        windows = [ctx[max(0, m.start - cc): m.end + cc] for m, ctx in zip(mentions, contexts)]
        todo = [i for i, c in enumerate(candidates) if c]
        out: list[list[float] | None] = [None] * len(mentions)
        if not todo:
            return out
        _, pooled = self.detector.encode_texts_pooled([windows[i] for i in todo])
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-9)
        for j, i in enumerate(todo):
            rows = np.array([records[c.qid].row if c.qid in records else 0 for c in candidates[i]])
            ent = self.kb.sentence_vectors(rows)
            ent /= np.linalg.norm(ent, axis=1, keepdims=True).clip(min=1e-9)
            out[i] = (ent @ pooled[j]).tolist()
        return out

    def _prob(self, feats: Mapping[str, float]) -> float:
        z = self.bias + sum(w * feats.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
