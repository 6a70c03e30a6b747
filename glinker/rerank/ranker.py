"""Rerankers: order each mention's candidates and decide NIL."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from glinker.kb import KnowledgeBase
from glinker.rerank.boosters import RANKER_DIR, calibration, load_booster, packaged_file  # noqa: F401 (RANKER_DIR: re-exported)
from glinker.rerank.coherence import add_coherence
from glinker.rerank.compatibility import Compatibility
from glinker.rerank.context_names import context_name_scores
from glinker.rerank.defaults import (
    DEFAULT_BIAS,
    DEFAULT_MODEL,
    DEFAULT_NIL_MODEL,
    DEFAULT_NIL_THRESHOLD,
    DEFAULT_WEIGHTS,
)
from glinker.rerank.feature_names import COSTLY_FEATURES, DOCUMENT_FEATURES, FEATURES
from glinker.rerank.features import candidate_features, shared_window, type_scores
from glinker.rerank.nil import NilModel, mention_row
from glinker.retrieval.candidates import NameEncoder
from glinker.segments import WHOLE_CHARS
from glinker.surface import other_name
from glinker.types import Candidate, LinkDecision, Mention


class Reranker(Protocol):
    """Scores candidates per mention and picks one entity or NIL."""

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str],
        voters: Sequence[Sequence[int]] | None = None,
    ) -> list[LinkDecision]:
        """One decision per mention: the ranked candidates and the chosen QID, or ``None`` for NIL.

        ``voters[i]``: the mentions (indices) whose entities may inform mention ``i``'s document
        features; ``None``: those sharing its context. The pipeline sets it in long documents
        (:mod:`glinker.segments`), where a context is one paragraph but the neighbourhood spans several.
        """
        ...


@dataclass(frozen=True)
class RerankTrace:
    """What :meth:`FeatureReranker.trace` decided and from what, per mention in input order.

    Attributes:
        features: Each candidate's feature dict (every name in :data:`FEATURES`), candidates in input order.
        best: The best-ranked candidate's QID, linked or not; ``None`` for a mention without candidates.
        nil_rows: The NIL model's input row (:func:`glinker.rerank.nil.mention_row`) of the best candidate;
            ``None`` for a mention without candidates.
        decisions: The reranker's decisions.
    """

    features: list[list[dict[str, float]]]
    best: list[str | None]
    nil_rows: list[list[float] | None]
    decisions: list[LinkDecision]


class NoReranker:
    """Keeps retrieval order and links the first candidate; NIL only when there is none."""

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str],
        voters: Sequence[Sequence[int]] | None = None,
    ) -> list[LinkDecision]:
        """Top-1 in retrieval order (``voters`` unused)."""
        out = []
        for cands in candidates:
            ranked = tuple((c, c.score) for c in cands)
            out.append(LinkDecision(cands[0].qid, cands[0].score, ranked) if cands else LinkDecision(None, 0.0, ()))
        return out




class FeatureReranker:
    """Logistic combination of bi-encoder, alias and popularity features, with a NIL threshold.

    Args:
        kb: The opened knowledge base (records for alias and popularity features).
        weights: Feature weights (missing features weigh 0); defaults are the learned ones.
        bias: Intercept.
        nil_threshold: Link only when the best candidate's probability reaches this.
        detector: Encodes mention contexts for ``context_sim`` (injected by the config builder).
        context_chars: Characters of text on each side of a mention used as its context.
        context_windows: ``"shared"`` (default): the text is cut into cells of ``2 * context_chars``
            characters and a mention's window is its cell plus ``context_chars / 2`` on each
            side (:func:`shared_window`), so the mentions of a cell share one encoding;
            ``"mention"``: the window is centred on each mention (one encoding per distinct
            window; what the default weights were fitted with, same accuracy, 2.4x slower).
        other_names: For mentions that are no KB name, the alias and string features compare
            their other surface form (:func:`glinker.surface.other_name`): "Town" for "Town,
            Place", so the qualifier ("Greece", "Massachusetts") does not outscore the town;
            "UN" for "U.N.".
        model: A LightGBM ranking model (text format, trees over features of :data:`FEATURES`) that scores
            the candidates instead of the linear weights; a relative path that does not exist
            is looked up in the packaged ``glinker/resources/reranker``. The weights then only
            drive the first pass of the coherence features. ``None``: linear scores.
        model_scale, model_bias: Calibration of the model's score into a link probability,
            ``sigmoid(model_scale * score + model_bias)``, for the NIL threshold.
        nil_model: A :class:`glinker.rerank.nil.NilModel` file (or ``None``): when set, the NIL threshold
            applies to its probability that the best candidate is a right link for this mention
            (which also becomes the decision's ``link_score``) instead of the ranker's probability.
        span_nil_threshold: With a ``nil_model``, the threshold on the ranker's probability for
            :meth:`rerank_spans` (given spans, no NIL model); ``None``: ``nil_threshold``.
        coherence_chars: Without ``voters``, only mentions of the same context starting at most this
            many characters from a mention vote in its coherence features, so their cost per mention
            stays bounded in a long text. The default is the longest document the pipeline links
            whole (:data:`glinker.segments.WHOLE_CHARS`), where every other mention votes. ``None``: all.
        compatibility: Candidates the mention's own words rule out (a person's different given name, a
            place qualifier naming another division or country: :mod:`glinker.rerank.compatibility`) are
            never the link; a mention whose every candidate is ruled out is NIL.
        names_chars: Characters on each side of a mention searched for the names of each candidate's
            description (the ``context_names`` feature: :mod:`glinker.rerank.context_names`).
        nearby_places_chars: With ``compatibility``, characters on each side of a mention searched for the
            state, county or city its place candidates lie in (:mod:`glinker.rerank.nearby_places`); ``None``:
            not searched.
        common_nouns: With ``compatibility``, a lower-case mention that is exactly one candidate's label (or
            whose singular is: "years", "year") links only to that candidate ("lecturer", not "university
            teacher": :mod:`glinker.rerank.compatibility`).
        numbers: With ``compatibility``, a regnal or sequel number in the mention ("Leopold III", "Terminator 2")
            rules out candidates whose label carries another one and no name the mention's.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        weights: Mapping[str, float] | None = None,
        bias: float = DEFAULT_BIAS,
        nil_threshold: float = DEFAULT_NIL_THRESHOLD,
        detector=None,
        context_chars: int = 200,
        context_windows: str = "shared",
        other_names: bool = True,
        model: str | None = None,
        model_scale: float = 1.0,
        model_bias: float = 0.0,
        nil_model: str | None = None,
        span_nil_threshold: float | None = None,
        coherence_chars: int | None = WHOLE_CHARS,
        compatibility: bool = True,
        names_chars: int = 400,
        nearby_places_chars: int | None = 400,
        common_nouns: bool = True,
        numbers: bool = True,
    ) -> None:
        self.kb = kb
        self.detector = getattr(detector, "detector", detector)  # a union detector's bi-encoder
        self._names = NameEncoder(self.detector) if hasattr(self.detector, "encode_texts_pooled") else None
        self.context_chars = int(context_chars)
        if context_windows not in CONTEXT_WINDOWS:
            raise ValueError(f"context_windows must be one of {CONTEXT_WINDOWS}, got {context_windows!r}")
        self.context_windows = context_windows
        self.other_names = bool(other_names)
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown reranker features {sorted(unknown)}; known: {list(FEATURES)}")
        self.bias = float(bias)
        self.nil_threshold = float(nil_threshold)
        self.booster = load_ranker(model) if model else None
        self.model_path = str(packaged_file(model)) if model else None
        self.model_scale = float(model_scale)
        self.model_bias = float(model_bias)
        self.nil_model = NilModel(nil_model) if nil_model else None
        self.span_nil_threshold = float(nil_threshold if span_nil_threshold is None or self.nil_model is None
                                        else span_nil_threshold)
        self.coherence_chars = None if coherence_chars is None else int(coherence_chars)
        self.compatibility = (Compatibility(kb, nearby_chars=nearby_places_chars, common_nouns=common_nouns,
                                            numbers=numbers) if compatibility else None)
        self.names_chars = int(names_chars)
        # the features the trees were fitted on (a subset of FEATURES), and every feature a model reads
        self._ranker_features = self.booster.feature_name() if self.booster is not None else []
        self._read_features = set(self._ranker_features)
        if self.nil_model is not None:
            self._read_features.update(n[4:] for n in self.nil_model.booster.feature_name() if n.startswith("top_"))
        # With a ranker model the linear weights score only coherence's first pass: a costly feature no model
        # reads is not computed, and that pass goes without it (also when every feature is traced, so a trace
        # has the coherence the pipeline computes).
        self._first_pass = {n: w for n, w in self.weights.items() if n not in COSTLY_FEATURES or self._wanted((n,))}

    @classmethod
    def packaged(cls, kb: KnowledgeBase, detector=None, model: str | None = DEFAULT_MODEL,
                 nil_model: str | None = DEFAULT_NIL_MODEL, **overrides) -> FeatureReranker:
        """A ranker model and NIL model with the calibration and thresholds stored beside each
        (``lambdamart.json``, ``nil.json``: :func:`glinker.rerank.boosters.calibration`); by default the ones
        glinker ships. ``overrides`` replace any other argument; ``model=None``: the linear weights alone
        (then set ``nil_threshold``), ``nil_model=None``: the NIL threshold applies to the ranker's probability.
        ``nil_threshold=None`` is the calibrated one (the Hydra config's default).
        """
        if "nil_threshold" in overrides and overrides["nil_threshold"] is None:
            del overrides["nil_threshold"]  # None: the threshold calibrated with the NIL model
        args: dict = {"context_windows": "shared"}
        if model:
            cal = calibration(model, ("scale", "bias", "span_nil_threshold"))
            args.update(model_scale=cal["scale"], model_bias=cal["bias"], span_nil_threshold=cal["span_nil_threshold"])
        if nil_model:
            args["nil_threshold"] = calibration(nil_model, ("threshold",))["threshold"]
        args.update(overrides)
        return cls(kb, detector=detector, model=model, nil_model=nil_model, **args)

    def rerank(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str],
        voters: Sequence[Sequence[int]] | None = None,
    ) -> list[LinkDecision]:
        """Score all candidates (records fetched in one pass) and apply the NIL decision to detected mentions."""
        return self._rerank(mentions, candidates, contexts, detected=True, voters=voters).decisions

    def rerank_spans(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str]
    ) -> list[LinkDecision]:
        """Like :meth:`rerank` for spans given as mentions (disambiguation of gold spans): NIL then only
        means "not in the KB", so the NIL model, which also judges whether a detected span is a mention
        at all, is not asked; the ranker's probability is held to ``span_nil_threshold``."""
        return self._rerank(mentions, candidates, contexts, detected=False).decisions

    def trace(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str],
        voters: Sequence[Sequence[int]] | None = None, given_spans: bool = False,
    ) -> RerankTrace:
        """What :meth:`rerank` (``given_spans``: :meth:`rerank_spans`) decides, with what it decided from:
        every feature of every candidate, whatever its weight, and every mention's NIL-model row, whether
        or not a NIL model is set. The examples :mod:`glinker.rerank.fit` learns the ranker and the NIL
        model from; the decisions are those the reranker returns for the same input."""
        return self._rerank(mentions, candidates, contexts, detected=not given_spans, voters=voters, trace=True)

    def _rerank(self, mentions, candidates, contexts, detected: bool, voters=None, trace: bool = False
                ) -> RerankTrace:
        """The decisions, and as much of the trace as they need (all of it with ``trace``)."""
        all_feats = self.featurize(mentions, candidates, contexts, voters, all_features=trace)
        scored = self._booster_probs(all_feats) if self.booster is not None else None
        probs = [scored[k] if scored is not None else [self._prob(f) for f in feats]
                 for k, feats in enumerate(all_feats)]
        ruled_out = None
        if self.compatibility is not None:
            records = self.kb.store.get_many(c.qid for cands in candidates for c in cands)
            ruled_out = self.compatibility.ruled_out(mentions, candidates, contexts, records)
            probs = [[0.0 if out else p for p, out in zip(ps, outs)] for ps, outs in zip(probs, ruled_out)]
        orders = [sorted(range(len(p)), key=lambda i, p=p: -p[i]) for p in probs]
        rows: list[list[float] | None] = [None] * len(mentions)
        if (detected and self.nil_model is not None) or trace:  # no NIL model for given spans
            rows = [mention_row(m, ctx, [probs[k][i] for i in orders[k]], all_feats[k][orders[k][0]], len(cands))
                    if cands else None
                    for k, (m, cands, ctx) in enumerate(zip(mentions, candidates, contexts))]
        accept = None
        threshold = self.nil_threshold
        if not detected:
            threshold = self.span_nil_threshold
        elif self.nil_model is not None:
            it = iter(self.nil_model.predict([r for r in rows if r is not None]).tolist())
            accept = [next(it) if r is not None else 0.0 for r in rows]
        decisions: list[LinkDecision] = []
        best: list[str | None] = []
        for k, cands in enumerate(candidates):
            if not cands:
                decisions.append(LinkDecision(None, 0.0, ()))
                best.append(None)
                continue
            ranked = tuple((cands[i], probs[k][i]) for i in orders[k])
            top, p = ranked[0]
            if accept is not None:
                p = accept[k]  # the NIL model's probability that this link is right
            if ruled_out is not None and ruled_out[k][orders[k][0]]:
                p = 0.0  # every candidate is ruled out: the entity the mention names is not in the KB
            decisions.append(LinkDecision(top.qid if p >= threshold else None, p, ranked))
            best.append(top.qid)
        return RerankTrace(all_feats, best, rows, decisions)

    def featurize(
        self, mentions: Sequence[Mention], candidates: Sequence[Sequence[Candidate]], contexts: Sequence[str],
        voters: Sequence[Sequence[int]] | None = None, all_features: bool = False,
    ) -> list[list[dict[str, float]]]:
        """Feature dicts of every candidate of every mention (batched KB reads and context encoding);
        ``voters`` as in :meth:`rerank`. The costly features (:data:`COSTLY_FEATURES`) that no model reads
        (nor, without a ranker model, a weight) stay 0 unless ``all_features``."""
        records = self.kb.store.get_many(c.qid for cands in candidates for c in cands)
        ents = self._entity_sentences(candidates, records)
        sims: list[list[float] | None] = [None] * len(mentions)
        if all_features or self._wanted(("context_sim",)):  # the label tower over context windows: costly
            sims = self._context_sims(mentions, candidates, contexts, ents)
        names = self._name_sims(mentions, candidates, ents)
        types: list[list[float | None] | None] = [None] * len(mentions)
        if hasattr(self.detector, "label_vectors") and (all_features or self._wanted(("type_score", "type_gap"))):
            types = type_scores(self.detector, self.kb.store, mentions, candidates, records)
        heads = [other_name(self.kb.store, m.text) if self.other_names and ("," in m.text or "." in m.text)
                 else None for m in mentions]
        feats = [candidate_features(m, cands, records, sims[i], names[i], types[i], heads[i]) if cands else []
                 for i, (m, cands) in enumerate(zip(mentions, candidates))]
        if all_features or self._wanted(("context_names",)):
            for row, scores in zip(feats, context_name_scores(mentions, candidates, contexts, records,
                                                              self.names_chars)):
                for f, v in zip(row, scores):
                    f["context_names"] = v
        if all_features or self._wanted(DOCUMENT_FEATURES):
            add_coherence(mentions, contexts, ents, feats, self._first_pass, voters, self.coherence_chars)
        return feats

    def _wanted(self, names: Sequence[str]) -> bool:
        """Whether features ``names`` must be computed: a model (the ranker's trees, or the NIL model for the
        best candidate) reads them, or, without a ranker model, a linear weight uses them."""
        return any(n in self._read_features or (self.booster is None and self.weights.get(n)) for n in names)

    def _entity_sentences(self, candidates, records) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per mention: its candidates' unit sentence embeddings (zero rows where unknown) and a known-mask.

        Read once per batch and shared by the context, name and coherence features.
        """
        if self.kb.sentences is None:
            return [None] * len(candidates)
        out: list[tuple[np.ndarray, np.ndarray] | None] = []
        for cands in candidates:
            if not cands:
                out.append(None)
                continue
            rows = np.array([records[c.qid].row if c.qid in records else -1 for c in cands])
            known = rows >= 0
            ent = self.kb.sentence_vectors(np.maximum(rows, 0)).astype(np.float32)
            ent /= np.linalg.norm(ent, axis=1, keepdims=True).clip(min=1e-9)
            ent[~known] = 0.0
            out.append((ent, known))
        return out

    def _name_sims(self, mentions, candidates, ents) -> list[list[float | None] | None]:
        """Mention text · entity sentence embedding for every candidate (not only name-retrieved ones)."""
        if self._names is None or self.kb.sentences is None:
            return [None] * len(mentions)
        todo = [i for i, e in enumerate(ents) if e is not None]
        out: list[list[float | None] | None] = [None] * len(mentions)
        if not todo:
            return out
        queries = self._names.encode([mentions[i].text for i in todo])
        for j, i in enumerate(todo):
            ent, known = ents[i]
            out[i] = [s if k else None for s, k in zip((ent @ queries[j]).tolist(), known)]
        return out

    def _context_sims(self, mentions, candidates, contexts, ents) -> list[list[float] | None]:
        if self.detector is None or self.kb.sentences is None or not hasattr(self.detector, "encode_texts_pooled"):
            return [None] * len(mentions)
        cc = self.context_chars
        if self.context_windows == "shared":
            windows = [shared_window(ctx, m.start, m.end, cc) for m, ctx in zip(mentions, contexts)]
        else:
            windows = [ctx[max(0, m.start - cc): m.end + cc] for m, ctx in zip(mentions, contexts)]
        todo = [i for i, e in enumerate(ents) if e is not None]
        out: list[list[float] | None] = [None] * len(mentions)
        if not todo:
            return out
        # each distinct window is encoded once: in a text shorter than the window every mention has
        # the same one (about two thirds of the windows of the short-text dev sets)
        unique = {w: k for k, w in enumerate(dict.fromkeys(windows[i] for i in todo))}
        _, pooled = self.detector.encode_texts_pooled(list(unique))
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-9)
        for i in todo:
            out[i] = (ents[i][0] @ pooled[unique[windows[i]]]).tolist()
        return out

    def _booster_probs(self, all_feats: Sequence[Sequence[Mapping[str, float]]]) -> list[list[float]]:
        """Calibrated model probabilities per candidate, one ``predict`` call for the whole batch."""
        rows = [[f[name] for name in self._ranker_features] for feats in all_feats for f in feats]
        if not rows:
            return [[] for _ in all_feats]
        z = self.model_scale * self.booster.predict(np.asarray(rows, dtype=np.float64)) + self.model_bias
        p = (1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))).tolist()
        out, k = [], 0
        for feats in all_feats:
            out.append(p[k : k + len(feats)])
            k += len(feats)
        return out

    def _prob(self, feats: Mapping[str, float]) -> float:
        z = self.bias + sum(w * feats.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


CONTEXT_WINDOWS = ("mention", "shared")


def load_ranker(path: str | os.PathLike[str]):
    """A LightGBM ranking model from its text file; it must read only features in :data:`FEATURES`.

    Text models are parsed, never unpickled. A relative ``path`` that does not exist is looked
    up in ``glinker/resources/reranker`` (the packaged default).
    """
    return load_booster(path, FEATURES, "reranker model",
                        "scripts/fit_reranker.py ranker=lambdamart (add reranker.model=null)")
