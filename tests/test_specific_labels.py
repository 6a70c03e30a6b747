"""The specific-label preference of BiEncoderDetector (broad labels yield to close, narrower ones)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glinker.detection.bi_encoder import BiEncoderDetector
from glinker.detection.labels import BROAD_LABELS

TEXTS = [
    "Arnold Schwarzenegger met Maria Shriver in Los Angeles in 1977 .",
    "The novelist Toni Morrison taught at Princeton University and won the Nobel Prize .",
    "Angela Merkel led the Christian Democratic Union for eighteen years .",
]


def _detectors(tiny_model_dir):
    pref = BiEncoderDetector(str(tiny_model_dir), threshold=0.05, specific_ratio=0.1, specific_similarity=0.55,
                             broad_labels=BROAD_LABELS)
    plain = BiEncoderDetector(pref.bundle, threshold=0.05, specific_ratio=None, broad_labels=BROAD_LABELS)
    base = pref.label_vectors(["person"])[0]
    noise = np.random.default_rng(0).standard_normal(base.shape).astype(np.float32)
    noise -= (noise @ base) / (base @ base) * base  # orthogonal to "person"
    noise *= np.linalg.norm(base) / np.linalg.norm(noise)
    # "writer": cosine 0.95 with "person" (a narrower label); "group": cosine 0 (not a kind of person)
    vecs = {"writer": 0.9 * base + 0.3 * noise, "group": noise.copy()}
    for det in (pref, plain):
        det._label_cache.update(vecs)
    return pref, plain, vecs


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_broad_label_yields_only_to_a_close_specific_label(tiny_model_dir):
    pref, plain, vecs = _detectors(tiny_model_dir)
    labels = ["person", "writer", "group"]
    got, ref = pref.detect(TEXTS, labels), plain.detect(TEXTS, labels)
    changed = kept = 0
    for ms, rs in zip(got, ref, strict=True):
        # the same spans with the same scores: only labels may change
        assert [(m.start, m.end, round(m.score, 5)) for m in ms] == [(r.start, r.end, round(r.score, 5)) for r in rs]
        for m, r in zip(ms, rs, strict=True):
            if r.label != "person":
                assert m.label == r.label
                continue
            p_writer = _sigmoid(float(r.vector @ vecs["writer"]))
            expect = "writer" if p_writer >= 0.1 * r.score else "person"
            assert m.label == expect
            assert m.label != "group"
            changed += expect == "writer"
            kept += expect == "person"
    assert changed > 0  # the rule did something on these texts


def test_no_change_without_a_narrower_label(tiny_model_dir):
    pref, plain, _ = _detectors(tiny_model_dir)
    for labels in (["person", "location", "organization"], ["person", "group"]):
        got, ref = pref.detect(TEXTS, labels), plain.detect(TEXTS, labels)
        assert any(ref), "the tiny model proposes spans in these texts"
        assert [[(m.start, m.end, m.label) for m in d] for d in got] == [[(m.start, m.end, m.label) for m in d]
                                                                        for d in ref]


def test_specific_ratio_is_checked(tiny_model_dir):
    from glinker.errors import InputError

    with pytest.raises(InputError, match="specific_ratio"):
        BiEncoderDetector(str(tiny_model_dir), specific_ratio=2.0)


def test_only_catch_all_labels_yield_by_default(tiny_model_dir):
    import torch

    from glinker.detection.labels import CATCH_ALL_LABELS

    pref, _, _ = _detectors(tiny_model_dir)
    linking = BiEncoderDetector(pref.bundle)  # the default, as linking configures it
    assert linking.broad_labels == frozenset(CATCH_ALL_LABELS)
    rng = np.random.default_rng(1)
    person, other = rng.standard_normal((2, 32)).astype(np.float32)
    other -= (other @ person) / (person @ person) * person
    person, other = person / np.linalg.norm(person), other / np.linalg.norm(other)
    film = 0.6 * person + 0.8 * other  # cosine 0.6 with "person", 0.8 with "miscellaneous"
    names, vectors = ["person", "film", "miscellaneous"], torch.from_numpy(np.stack([person, film, other]))
    every = pref._yields(names, vectors)
    assert bool(every[0, 1]) and bool(every[2, 1])  # every broad label: a person may become a film
    catch_all = linking._yields(names, vectors)
    assert not bool(catch_all[0, 1]) and bool(catch_all[2, 1])  # catch-alls only: it may not


def test_the_preference_stores_the_broad_labels_rows_only(tiny_model_dir):
    """A large label set with one broad label: one row of yields, not a labels × labels matrix."""
    import torch

    pref, _, _ = _detectors(tiny_model_dir)
    n = 20_000
    vectors = torch.randn(n, 32)
    vectors[1] = vectors[0] + 0.01 * torch.randn(32)  # label 1 is close to the broad label 0
    names = ["person"] + [f"kind {i}" for i in range(1, n)]
    yields = pref._yields(names, vectors)
    assert yields.allowed.shape == (1, n)
    assert yields[0, 1] and not yields[1, 0] and not yields[2, 1]
