"""The NIL decision as a learned classifier: should this mention be linked to its best candidate?

The reranker answers "which entity"; end to end there is a second question, "is this a mention the
link is right for", and the ranker's own top probability answers it badly: it was fitted on gold
spans only, so it never saw the detector's non-entity spans ("department", "in" in AIDA's masked
text), nor learnt that a lower-case word or a low detector score makes a confident link unlikely.
:class:`NilModel` scores each mention's best candidate from the ranker's probabilities and that
candidate's features (:data:`glinker.rerank.ranker.FEATURES`) plus the mention's own evidence: detector score
and label, shape (case, length, digits), position. It is a LightGBM binary classifier, fitted by
``scripts/fit_reranker.py nil_model=true`` on detected mentions of the fit documents, scored by a
ranker that did not see those documents (cross-fitting), and stored as LightGBM text (parsed,
never unpickled).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from glinker.rerank.feature_names import FEATURES
from glinker.resolution.coref import is_pronoun
from glinker.surface import sentence_start
from glinker.types import Mention

# The default linking labels (glinker/conf/detector/bi_encoder.yaml); a mention with another label has all zeros.
NIL_LABELS = ("person", "organization", "location", "film", "country", "city", "award", "event", "work of art",
              "nationality", "miscellaneous")
MENTION_FEATURES = ("link_prob", "link_gap", "n_candidates", "mention_score", "chars", "words", "lower_initial",
                    "all_caps", "capitalised_words", "has_digit", "sentence_initial", "pronoun",
                    *(f"label_{label.replace(' ', '_')}" for label in NIL_LABELS))


def nil_feature_names() -> tuple[str, ...]:
    """Names of the classifier's inputs: the mention's features, then the best candidate's (``top_``)."""
    return MENTION_FEATURES + tuple(f"top_{name}" for name in FEATURES)


def mention_row(mention: Mention, context: str, probs: Sequence[float], top: Mapping[str, float],
                n_candidates: int) -> list[float]:
    """One classifier input row: ``probs`` are the ranker's probabilities best first, ``top`` the best
    candidate's feature dict; ``context`` is the text the mention's offsets refer to (or any text
    when they do not: only ``sentence_initial`` reads it)."""
    text = mention.text
    words = text.split()
    in_context = 0 <= mention.start < len(context) and context[mention.start : mention.end] == text
    row = [
        float(probs[0]) if probs else 0.0,
        float(probs[0] - probs[1]) if len(probs) > 1 else float(probs[0]) if probs else 0.0,
        float(n_candidates),
        float(mention.score),
        float(len(text)),
        float(len(words)),
        float(text[:1].islower()),
        float(text.isupper() and len(text) > 1),
        sum(w[:1].isupper() for w in words) / max(len(words), 1),
        float(any(ch.isdigit() for ch in text)),
        float(in_context and sentence_start(context, mention.start)),
        float(is_pronoun(text)),
        *(float(mention.label == label) for label in NIL_LABELS),
    ]
    return row + [float(top.get(name, 0.0)) for name in FEATURES]


class NilModel:
    """Probability that a mention's best candidate is a right link (LightGBM binary trees, text format).

    Args:
        path: The model file; a relative path that does not exist is looked up in the packaged
            ``glinker/resources/reranker``. It reads features of :func:`nil_feature_names` (all or
            some: a model fitted before a feature was added, or without one, reads its own by name).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from glinker.rerank.boosters import feature_columns, load_booster, packaged_file

        self.path = packaged_file(path)
        self.booster = load_booster(path, nil_feature_names(), "NIL model",
                                    "scripts/fit_reranker.py e2e=true nil_model=true")
        self.columns = feature_columns(self.booster, nil_feature_names())

    @classmethod
    def from_booster(cls, booster) -> NilModel:
        """A classifier fitted in memory (:func:`fit_nil_model`), not read from a file."""
        from glinker.rerank.boosters import feature_columns

        model = cls.__new__(cls)
        model.path = None
        model.booster = booster
        model.columns = feature_columns(booster, nil_feature_names())
        return model

    def predict(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        """Link probabilities, one per row of :func:`mention_row` (the columns the model reads)."""
        if not len(rows):
            return np.zeros(0)
        x = np.asarray(rows, dtype=np.float64)[:, self.columns]
        return np.asarray(self.booster.predict(x), dtype=np.float64)


# Binary trees, small and shrunk like the ranker's; fixed seed.
NIL_PARAMS = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.05, "n_estimators": 200,
              "min_child_samples": 20, "deterministic": True, "force_row_wise": True, "seed": 0, "n_jobs": 1,
              "verbose": -1}


def fit_nil_model(rows: Sequence[Sequence[float]], labels: Sequence[float], params: dict | None = None,
                  features: Sequence[str] | None = None):
    """Fit the classifier on (:func:`mention_row`, link-is-right) pairs; returns the LightGBM booster.

    ``features``: the names of :func:`nil_feature_names` it reads (``None``: all).
    """
    import lightgbm

    names = list(nil_feature_names())
    chosen = names if features is None else [n for n in names if n in set(features)]
    x = np.asarray(rows, dtype=np.float64)[:, [names.index(n) for n in chosen]]
    model = lightgbm.LGBMClassifier(**(NIL_PARAMS | (params or {})))
    model.fit(x, np.asarray(labels, dtype=np.float64), feature_name=chosen)
    return model.booster_
