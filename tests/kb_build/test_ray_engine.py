"""kb_build engine=ray: the same KB as a local build, with the embedding done by Ray Data actors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glinker.errors import KBError
from glinker.kb import KnowledgeBase
from kb_build.build import build_kb

ray = pytest.importorskip("ray", reason="engine=ray needs Ray Data: pip install -e '.[distributed]'")

from kb_build.distributed import RayEmbedder  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (3 CPUs: one per actor, one for Ray Data's reads)."""
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_build_equals_local_build(tmp_path, boston_dump, tiny_detector, tiny_model_dir, local_ray):
    local = build_kb(boston_dump, tmp_path / "local", tiny_detector, progress=False, batch_lines=3)
    # small shards: rows come back from both actors in several calls, each written at its own row number
    embedder = RayEmbedder(str(tiny_model_dir), actors=2, shard_rows=3)
    remote = build_kb(boston_dump, tmp_path / "ray", tiny_detector, progress=False, batch_lines=3, embedder=embedder)

    assert remote["counts"] == local["counts"]
    assert remote["build"]["embedding"]["engine"] == "ray" and local["build"]["embedding"] == {"engine": "local"}
    for name in ("embeddings.f16.npy", "sentence.f16.npy"):
        a = np.load(tmp_path / "local" / name).astype(np.float32)
        b = np.load(tmp_path / "ray" / name).astype(np.float32)
        assert a.shape == b.shape and a.shape[0] == local["counts"]["kept"]
        # the same row holds the same entity's vector (batches differ: fp16 rounding only)
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos.min() > 0.999
    # nothing staged is left in the published KB, and the KB opens and searches like the local one
    assert not [p for p in (tmp_path / "ray").rglob("*") if "ray-texts" in p.name]
    kb_local = KnowledgeBase.open(tmp_path / "local", expect_fingerprint=tiny_detector.fingerprint)
    kb_ray = KnowledgeBase.open(tmp_path / "ray", expect_fingerprint=tiny_detector.fingerprint)
    qids = [qid for qid, _ in kb_local.store.iter_aliases()]
    rows_local = {q: r.row for q, r in kb_local.store.get_many(qids).items()}
    assert rows_local == {q: r.row for q, r in kb_ray.store.get_many(qids).items()}
    query = np.load(tmp_path / "local" / "embeddings.f16.npy")[:2].astype(np.float32)
    assert (kb_local.index.search(query, 1)[0] == kb_ray.index.search(query, 1)[0]).all()


def test_ray_worker_with_another_model_fails_cleanly(tmp_path, boston_dump, tiny_detector, local_ray):
    from conftest import make_tiny_checkpoint

    other = make_tiny_checkpoint(tmp_path / "other", seed=1)  # same shape, other weights: another fingerprint
    embedder = RayEmbedder(str(other), actors=1)
    with pytest.raises(KBError, match="fingerprint"):
        build_kb(boston_dump, tmp_path / "kb", tiny_detector, progress=False, embedder=embedder)
    assert not (tmp_path / "kb").exists()
    assert not list(tmp_path.glob(".kb.building-*"))


def test_kb_build_cli_engine_option_is_checked(tmp_path, boston_dump, tiny_model_dir):
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR
    from kb_build.__main__ import run

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="kb_build", overrides=[f"dump={boston_dump}", f"output_dir={tmp_path / 'kb'}",
                                                         f"model={tiny_model_dir}", "engine=spark", "progress=false"])
    with pytest.raises(KBError, match="engine='spark'"):
        run(cfg)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="kb_build", overrides=[f"dump={boston_dump}", f"output_dir={tmp_path / 'kb'}",
                                                         f"model={tiny_model_dir}", "engine=ray", "ray.actors=1",
                                                         "progress=false"])
    manifest = run(cfg)
    assert manifest["build"]["embedding"]["actors"] == 1
    assert json.loads((tmp_path / "kb" / "manifest.json").read_text())["counts"]["kept"] == manifest["counts"]["kept"]
