"""Huge label sets: the label index picks the same best labels as exhaustive blocked scoring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from glinker.detection.bi_encoder import BiEncoderDetector
from glinker.detection.label_index import LabelIndex
from glinker.errors import InputError

TEXTS = [
    "Arnold Schwarzenegger was born in Thal, Austria, and later moved to Los Angeles.",
    "The Terminator (1984) was directed by James Cameron for Orion Pictures; it co-starred Linda Hamilton.",
    "Japan began the defence of their Asian Cup title with a lucky 2-1 win against Syria on Friday.",
]
WORDS = ["German", "former", "public", "fictional", "river", "city", "film", "person", "award", "band", "school",
         "company", "party", "saint", "island", "museum", "bridge", "village", "novel", "team"]
# 3,420 distinct labels: "German river", "river German", ..., "river number 151"
LABELS = tuple(f"{a} {b}" for a, b in itertools.permutations(WORDS, 2)) + tuple(
    f"{w} number {i}" for w in WORDS for i in range(152))


def _entities(mentions):
    return [[(m.start, m.end, m.label) for m in doc] for doc in mentions]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Label cache shared by the detectors of this module, so the labels are encoded once."""
    return tmp_path_factory.mktemp("label-cache")


def _detector(model_dir, cache, **kwargs) -> BiEncoderDetector:
    return BiEncoderDetector(model_dir, threshold=0.2, label_cache_dir=cache, disk_cache_min_labels=1000, **kwargs)


@pytest.fixture(scope="module")
def detectors(tiny_model_dir, cache):
    # tiny blocks so the exhaustive path really runs block by block
    blocked = _detector(tiny_model_dir, cache, score_budget=20_000, label_index_min_labels=10**9)
    indexed = _detector(tiny_model_dir, cache, label_index_min_labels=1000, label_index="flat")
    return blocked, indexed


def test_exact_index_finds_the_same_entities_as_blocked_scoring(detectors):
    blocked, indexed = detectors
    assert len(set(LABELS)) == len(LABELS) > 3000
    want, got = blocked.detect(TEXTS, LABELS), indexed.detect(TEXTS, LABELS)
    assert indexed._label_set(LABELS).index is not None and blocked._label_set(LABELS).index is None
    assert sum(map(len, want)) >= 3, "the tiny model should propose some spans at threshold 0.2"
    assert len({m.label for doc in want for m in doc}) >= 2
    assert _entities(got) == _entities(want)
    for a, b in zip(itertools.chain(*want), itertools.chain(*got)):
        assert b.score == pytest.approx(a.score, abs=1e-5)
        np.testing.assert_allclose(b.vector, a.vector, atol=1e-6)


def test_exact_index_gold_spans_match_blocked_scoring(detectors):
    blocked, indexed = detectors
    spans = [[(0, 21), (34, 38), (57, 68)], [(4, 14), (38, 51)], [(0, 5)]]
    want, got = blocked.encode_spans(TEXTS, spans, LABELS), indexed.encode_spans(TEXTS, spans, LABELS)
    assert [[(m.label, round(m.score, 5)) for m in d] for d in got] == [[(m.label, round(m.score, 5)) for m in d]
                                                                         for d in want]


def test_small_label_sets_stay_on_blocked_scoring(detectors):
    _, indexed = detectors
    labels = LABELS[:999]
    assert indexed._label_set(labels).index is None
    assert indexed._label_set(labels) is indexed._label_set(labels)  # prepared once, found by identity


def test_label_index_is_cached_on_disk_and_reloaded(detectors, tiny_model_dir, cache):
    _, indexed = detectors
    first = indexed.detect(TEXTS, LABELS)
    files = sorted(p.name for p in cache.iterdir() if ".ivf." not in p.name)  # ivf: the test below
    assert len(files) == 2 and files[0].endswith(".flat.faiss") and files[1].endswith(".npy")
    fresh = _detector(tiny_model_dir, cache, label_index_min_labels=1000, label_index="flat")
    fresh.encode_texts = None  # everything must come from the cache
    assert _entities(fresh.detect(TEXTS, LABELS)) == _entities(first)


def test_flat_index_matches_brute_force_and_hnsw_recall_is_high():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(5000, 32)).astype(np.float32)
    queries = rng.normal(size=(300, 32)).astype(np.float32)
    truth = (queries @ labels.T).argmax(axis=1)
    scores, ids = LabelIndex.build(labels, "flat").best(queries)
    np.testing.assert_array_equal(ids, truth)
    np.testing.assert_allclose(scores, (queries * labels[truth]).sum(axis=1), rtol=1e-5)
    hnsw = LabelIndex.build(labels, "hnsw", ef_search=256)
    assert hnsw.kind == "hnsw"
    _, approx = hnsw.best(queries)
    assert (approx == truth).mean() >= 0.95


def test_hnsw_finds_the_best_label_when_label_vectors_share_a_large_component(tmp_path):
    # like the real label towers: every label vector ~ a common mean, span vectors point against it
    rng = np.random.default_rng(1)
    mean = np.zeros(32, np.float32)
    mean[0] = 5.0
    labels = (mean + rng.normal(scale=0.5, size=(5000, 32))).astype(np.float32)
    queries = (-0.5 * mean + rng.normal(scale=0.3, size=(300, 32))).astype(np.float32)
    exact = queries @ labels.T
    index = LabelIndex.build(labels, "hnsw", ef_search=64)
    index.save(tmp_path / "labels.hnsw.faiss")
    loaded = LabelIndex.load(tmp_path / "labels.hnsw.faiss", ef_search=64)
    for idx in (index, loaded):
        scores, ids = idx.best(queries)
        assert (ids == exact.argmax(axis=1)).mean() >= 0.95
        np.testing.assert_allclose(scores, exact[np.arange(len(ids)), ids], rtol=1e-4, atol=1e-4)


def test_bad_label_index_settings_are_refused(tiny_model_dir):
    with pytest.raises(InputError, match="label_index"):
        BiEncoderDetector(tiny_model_dir, label_index="bogus")
    with pytest.raises(InputError, match="width"):
        LabelIndex.build(np.ones((4, 8), np.float32), "flat").best(np.ones((2, 7), np.float32))


def test_ivf_index_with_pruning_finds_the_same_entities_as_blocked_scoring(detectors, tiny_model_dir, cache):
    blocked, _ = detectors
    ivf = _detector(tiny_model_dir, cache, label_index_min_labels=1000, label_index="ivf")
    index = ivf._label_set(LABELS).index
    assert index.kind == "ivf" and index.prune
    assert _entities(ivf.detect(TEXTS, LABELS)) == _entities(blocked.detect(TEXTS, LABELS))
    spans = [[(0, 21), (34, 38), (57, 68)], [(4, 14), (38, 51)], [(0, 5)]]  # no cut: the exact best label
    want, got = blocked.encode_spans(TEXTS, spans, LABELS), ivf.encode_spans(TEXTS, spans, LABELS)
    assert [[(m.label, round(m.score, 5)) for m in d] for d in got] == [[(m.label, round(m.score, 5)) for m in d]
                                                                         for d in want]


def _shared_component(seed: int, labels: int = 6000, queries: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Label vectors around a large common mean, span vectors pointing against it (as the real towers)."""
    rng = np.random.default_rng(seed)
    mean = np.zeros(32, np.float32)
    mean[0] = 5.0
    p = (mean + rng.normal(scale=0.5, size=(labels, 32))).astype(np.float32)
    q = (-0.5 * mean + rng.normal(scale=0.4, size=(queries, 32))).astype(np.float32)
    return p, q


@pytest.mark.parametrize(("fp16", "nprobe"), [(False, 0), (False, 2), (True, 2)])
def test_ivf_is_exact_above_the_cut_and_pruning_changes_no_answer(fp16, nprobe):
    labels, queries = _shared_component(2)
    exact = queries @ labels.T
    best, truth = exact.max(axis=1), exact.argmax(axis=1)
    index = LabelIndex.build(labels, "ivf", nlist=64, nprobe=nprobe, fp16=fp16)
    scores, ids = index.best(queries)  # no cut: every query's exact best label
    assert (ids == truth).mean() >= (0.99 if fp16 else 1.0)
    np.testing.assert_allclose(scores, best, atol=2e-2 if fp16 else 1e-4)
    bound = (queries @ index.centroids.T + np.linalg.norm(queries, axis=1)[:, None] * index.radii).max(axis=1)
    bound += queries @ index.mean  # the largest logit any label could reach
    # a cut some queries pass, and one that the bound alone rules most queries out for
    for cut in (float(np.quantile(best, 0.8)), float(np.quantile(bound, 0.7))):
        above = best > cut
        for prune in (False, True):
            index.prune = prune
            scores, ids = index.best(queries, cut=cut)
            np.testing.assert_array_equal(scores > cut, above)
            np.testing.assert_array_equal(ids[above], truth[above])
        skipped = bound <= cut
        assert (ids[skipped] == -1).all() and not above[skipped].any()
    assert skipped.sum() > len(queries) // 2, "the bound should rule queries out without a search"


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_one_batched_search_answers_as_one_search_per_span(kind):
    labels, queries = _shared_component(3, queries=120)
    index = LabelIndex.build(labels, kind, nlist=32)
    for cut in (None, 0.0):
        scores, ids = index.best(queries, cut)
        one = [index.best(queries[i : i + 1], cut) for i in range(len(queries))]
        np.testing.assert_array_equal(ids, [i[0] for _, i in one])
        np.testing.assert_allclose(scores, [s[0] for s, _ in one], rtol=1e-5, atol=1e-5)


def test_ivf_index_round_trips_save_and_load(tmp_path):
    labels, queries = _shared_component(4)
    index = LabelIndex.build(labels, "ivf", nlist=48, fp16=True)
    index.save(tmp_path / "labels.ivf.faiss")
    assert (tmp_path / "labels.ivf.faiss.radii.npy").exists() and (tmp_path / "labels.ivf.faiss.mean.npy").exists()
    loaded = LabelIndex.load(tmp_path / "labels.ivf.faiss")
    assert loaded.kind == "ivf" and len(loaded) == len(labels)
    np.testing.assert_array_equal(loaded.radii, index.radii)
    for cut in (None, -2.0):
        for a, b in zip(index.best(queries, cut), loaded.best(queries, cut)):
            np.testing.assert_array_equal(a, b)
    (tmp_path / "labels.ivf.faiss.radii.npy").unlink()
    with pytest.raises(InputError, match="radii"):
        LabelIndex.load(tmp_path / "labels.ivf.faiss")


def test_hnsw_walks_deep_only_near_the_cut_and_keeps_the_deep_answers_there():
    labels, queries = _shared_component(5)
    best = (queries @ labels.T).max(axis=1)
    cut = float(np.quantile(best, 0.9))
    index = LabelIndex.build(labels, "hnsw", ef_search=128)
    deep_scores, deep_ids = index.best(queries)  # no cut: every query at full depth
    index.first_ef = 4
    index.ef_search = 4
    shallow_scores, shallow_ids = index.best(queries)
    index.ef_search = 128
    scores, ids = index.best(queries, cut)
    again = shallow_scores > cut - index.recheck_margin
    assert 0 < again.sum() < len(queries) // 2
    np.testing.assert_array_equal(ids[again], deep_ids[again])
    np.testing.assert_array_equal(ids[~again], shallow_ids[~again])
    np.testing.assert_allclose(scores[again], deep_scores[again], rtol=1e-6)
