"""FAISS entity index: chunked builds, MIPS augmentation, exact rescoring, search settings, memory-mapped opening.

Every approximate result is checked against a brute-force oracle on small random data whose norms
vary like the real span vectors (a shared offset direction plus per-row scale).
"""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from glinker.errors import KBError
from glinker.kb import KnowledgeBase
from glinker.kb.index import FaissEntityIndex, build_index, default_factory, default_search_params

DIM = 24


def _span_like(n: int, seed: int) -> np.ndarray:
    """Clustered vectors with a common offset and norms spread over ~4x, stored fp16 like a KB's."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(32, DIM))
    x = centres[rng.integers(0, 32, n)] + 0.5 * rng.normal(size=(n, DIM)) + 2.0
    return (x * rng.uniform(0.5, 2.0, size=(n, 1))).astype(np.float16)


def _exact(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ np.asarray(vectors, np.float32).T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(scores, rows, 1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found.tolist(), truth.tolist())]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("faiss")
    vectors = _span_like(6000, seed=0)
    np.save(root / "vectors.npy", vectors)
    queries = np.random.default_rng(1).normal(size=(200, DIM)).astype(np.float32) + 0.5
    return root, np.load(root / "vectors.npy", mmap_mode="r"), queries


@pytest.mark.parametrize("queries", [1, 25, 300, 500])
def test_exact_search_matches_the_oracle_at_every_batch_size(queries):
    """Small and large query batches (FAISS's sequential and BLAS paths) give the exact top k."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5000, DIM)).astype(np.float32)
    q = rng.normal(size=(queries, DIM)).astype(np.float32)
    rows, scores = FaissEntityIndex.exact(vectors).search(q, 10)
    want_rows, want_scores = _exact(vectors, q, 10)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
    assert (rows == want_rows).mean() > 0.999  # equal scores may come in either order


def test_mips_augmentation_is_chosen_for_approximate_types_and_keeps_exact_scores(data):
    root, vectors, queries = data
    facts = build_index(vectors, "HNSW32,Flat", root / "hnsw.faiss", chunk=1000)
    assert facts["mips_augmented"] is True
    index = FaissEntityIndex(root / "hnsw.faiss", ef_search=256)
    # the file takes plain D-wide queries; inside, rows are padded to a multiple of 16 (SIMD kernels)
    assert index.dim == DIM and index.ntotal == len(vectors)
    assert faiss.downcast_index(faiss.downcast_index(index.index).index).d == 32
    rows, scores = index.search(queries, 10)
    truth, _ = _exact(vectors, queries, 10)
    assert _recall(rows, truth) >= 0.95
    # the norm-completing coordinate is 0 in queries: returned scores are the plain inner products
    expected = np.einsum("qd,qkd->qk", queries, np.asarray(vectors, np.float32)[rows])
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-3)
    assert build_index(vectors, "Flat", root / "flat.faiss")["mips_augmented"] is False
    assert build_index(vectors, "HNSW32,Flat", root / "n.faiss", normalize=True)["mips_augmented"] is False


def test_augmentation_finds_what_plain_approximate_search_misses(data):
    root, vectors, queries = data
    build_index(vectors, "IVF32,Flat", root / "ivf_raw.faiss", mips=False)
    build_index(vectors, "IVF32,Flat", root / "ivf_aug.faiss", mips=True)
    truth, _ = _exact(vectors, queries, 10)
    raw = _recall(FaissEntityIndex(root / "ivf_raw.faiss", nprobe=2).search(queries, 10)[0], truth)
    aug = _recall(FaissEntityIndex(root / "ivf_aug.faiss", nprobe=2).search(queries, 10)[0], truth)
    assert aug > raw + 0.1
    with pytest.raises(KBError, match="width"):
        FaissEntityIndex(root / "ivf_aug.faiss").search(queries[:, :-1], 5)


def test_rescoring_returns_exact_scores_in_order_and_recovers_recall(data):
    root, vectors, queries = data
    build_index(vectors, "HNSW32,SQ4", root / "sq4.faiss")
    truth, truth_scores = _exact(vectors, queries, 10)
    plain = FaissEntityIndex(root / "sq4.faiss", ef_search=128)
    rescored = FaissEntityIndex(root / "sq4.faiss", ef_search=128, rescore_vectors=vectors, rescore_k=50)
    rows, scores = rescored.search(queries, 10)
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, np.asarray(vectors, np.float32)[rows]),
                               rtol=1e-5, atol=1e-4)
    assert _recall(rows, truth) > _recall(plain.search(queries, 10)[0], truth)
    assert _recall(rows, truth) >= 0.95
    # switching rescoring off at run time gives the approximate scores back
    rescored.set_search_params(rescore_k=0)
    np.testing.assert_array_equal(rescored.search(queries, 10)[0], plain.search(queries, 10)[0])


def test_rescoring_with_fewer_entities_than_k(tmp_path):
    vectors = _span_like(7, seed=3)
    build_index(vectors, "HNSW32,SQ8", tmp_path / "tiny.faiss")
    index = FaissEntityIndex(tmp_path / "tiny.faiss", rescore_vectors=vectors, rescore_k=50)
    q = np.ones((2, DIM), np.float32)
    rows, scores = index.search(q, 10)
    assert rows.shape == (2, 7) and sorted(rows[0].tolist()) == list(range(7))
    np.testing.assert_array_equal(rows[0], _exact(vectors, q, 7)[0][0])


def test_rescoring_vectors_must_match_the_index(data):
    root, vectors, _ = data
    build_index(vectors, "HNSW32,SQ8", root / "sq8.faiss")
    with pytest.raises(KBError, match="rescoring vectors"):
        FaissEntityIndex(root / "sq8.faiss", rescore_vectors=vectors[:10], rescore_k=50)


def test_ivf_with_many_lists_trains_with_hnsw_assignment(tmp_path):
    vectors = _span_like(20_000, seed=4)
    facts = build_index(vectors, "IVF4096_HNSW32,Flat", tmp_path / "ivf.faiss", train_points=20_000)
    assert facts["train_points"] == 20_000 and facts["imbalance"] >= 1.0
    index = FaissEntityIndex(tmp_path / "ivf.faiss", nprobe=256, ef_search=16)
    hnsw = faiss.downcast_index(faiss.extract_index_ivf(index.index).quantizer)
    assert hnsw.hnsw.efSearch >= 256  # the quantizer never returns fewer lists than nprobe asks for
    queries = np.random.default_rng(5).normal(size=(100, DIM)).astype(np.float32)
    assert _recall(index.search(queries, 10)[0], _exact(vectors, queries, 10)[0]) >= 0.95


def test_memory_mapped_and_loaded_indexes_agree(data):
    root, vectors, queries = data
    build_index(vectors, "IVF64,SQ8", root / "ivf64.faiss")
    mapped = FaissEntityIndex(root / "ivf64.faiss", mmap=True, nprobe=8)
    loaded = FaissEntityIndex(root / "ivf64.faiss", mmap=False, nprobe=8)
    np.testing.assert_array_equal(mapped.search(queries, 10)[0], loaded.search(queries, 10)[0])


def test_from_manifest_applies_recorded_settings(data):
    root, vectors, queries = data
    build_index(vectors, "IVF64,SQ8", root / "ivf64m.faiss")
    info = {"factory": "IVF64,SQ8", "mips_augmented": True, "nprobe": 16, "rescore_k": 40}
    index = FaissEntityIndex.from_manifest(root / "ivf64m.faiss", info, rescore_vectors=vectors)
    assert faiss.extract_index_ivf(index.index).nprobe == 16 and index.rescore_k == 40
    # without vectors to rescore from, rescoring is off rather than an error
    assert FaissEntityIndex.from_manifest(root / "ivf64m.faiss", info).rescore_k == 0


def test_default_factory_and_settings_by_size():
    assert default_factory(61_000) == "Flat" and default_search_params("Flat") == {}
    for n in (1_000_000, 10_000_000, 100_000_000):
        factory = default_factory(n)
        index = faiss.index_factory(400, factory, faiss.METRIC_INNER_PRODUCT)
        assert index.ntotal == 0  # a valid factory string
        params = default_search_params(factory)
        assert set(params) <= {"nprobe", "ef_search", "rescore_k"} and params


def test_kb_build_records_index_settings_and_kb_open_uses_them(tmp_path, boston_dump, tiny_detector):
    from kb_build.build import build_kb

    build_kb(boston_dump, tmp_path / "kb", tiny_detector, progress=False, index_factory="HNSW32,SQ8")
    info = json.loads((tmp_path / "kb" / "manifest.json").read_text())["index"]
    assert info["mips_augmented"] is True and info["factory"] == "HNSW32,SQ8"
    assert {k: info[k] for k in default_search_params("HNSW32,SQ8")} == default_search_params("HNSW32,SQ8")
    kb = KnowledgeBase.open(tmp_path / "kb")
    assert kb.index.dim == tiny_detector.dim
    q = np.asarray(kb.embeddings[:3], np.float32)
    rows, scores = kb.index.search(q, 3)
    truth, truth_scores = _exact(kb.embeddings, q, 3)
    np.testing.assert_array_equal(rows, truth)
    if info.get("rescore_k"):  # exact rescoring: the KB's own fp16 vectors give the scores
        np.testing.assert_allclose(scores, truth_scores, rtol=1e-5)
