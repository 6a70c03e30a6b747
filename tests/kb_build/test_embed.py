"""Entity-text embedding: length-bucketed batches give the plain padded loop's outputs; int8 is opt-in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import BOSTON

from glinker.errors import InputError, KBError
from glinker.model.label_tower import encode_label_texts, length_batches
from kb_build.build import build_kb

TEXTS = [
    "Boston: capital city of Massachusetts, United States",
    "human",
    "Boston Celtics: basketball team in Boston",
    "The Terminator: 1984 science fiction film by James Cameron",
    "Graz",
    "Arnold Schwarzenegger: Austrian-American actor and politician",
    "a: " + "very long description " * 80,  # past max_length: truncated
    "Douglas Adams: English writer and humorist",
]


def plain_padded_loop(det, texts, batch_size):
    """The reference: dump order, each batch padded by the tokenizer, Hugging Face encoder, mean pool."""
    tok, model = det.bundle.labels_tokenizer, det.model
    p, e = [], []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tok(texts[s : s + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = model.token_rep_layer.labels_encoder.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            emb = (states * mask).sum(1) / mask.sum(1)
            p.append(model.prompt_rep_layer(emb).numpy())
            e.append(emb.numpy())
    return np.concatenate(p), np.concatenate(e)


@pytest.mark.parametrize("batch_size,max_padding", [(1, 0.05), (3, 0.0), (64, 0.0), (4, 0.3), (64, 0.05), (64, 10.0)])
def test_length_batches_cover_every_index_once_shortest_first(batch_size, max_padding):
    lengths = [5, 3, 9, 3, 7, 30, 3, 5, 12, 4]
    batches = length_batches(lengths, batch_size, max_padding)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    assert [i for i in flat if lengths[i] == 3] == [1, 3, 6]  # stable among equal lengths
    for b in batches:
        real = sum(lengths[i] for i in b)
        assert len(b) <= batch_size and len(b) * max(lengths[i] for i in b) <= (1 + max_padding) * real


def test_length_batches_without_padding_never_mix_lengths():
    lengths = [4, 4, 4, 5, 5, 9]
    assert length_batches(lengths, 2, 0.0) == [[0, 1], [2], [3, 4], [5]]
    assert length_batches(lengths, 64, 10.0) == [[0, 1, 2, 3, 4, 5]]


def test_length_batches_bad_batch_size():
    with pytest.raises(InputError, match="batch_size"):
        length_batches([3, 4], 0)
    with pytest.raises(InputError, match="max_padding"):
        length_batches([3, 4], 8, -0.1)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_fast_path_matches_plain_padded_loop(tiny_detector, batch_size):
    ref_p, ref_e = plain_padded_loop(tiny_detector, TEXTS, 3)
    p, e = tiny_detector.encode_texts_pooled(TEXTS, batch_size=batch_size)
    assert p.shape == e.shape == (len(TEXTS), tiny_detector.dim) and p.dtype == np.float32
    np.testing.assert_allclose(p, ref_p, atol=1e-5)
    np.testing.assert_allclose(e, ref_e, atol=1e-5)
    # rows follow the input order, whatever the batching
    p_rev, _ = tiny_detector.encode_texts_pooled(TEXTS[::-1], batch_size=batch_size)
    np.testing.assert_allclose(p_rev[::-1], p, atol=1e-5)


def test_empty_input(tiny_detector):
    p, e = encode_label_texts(tiny_detector.model, tiny_detector.bundle.labels_tokenizer, [])
    assert p.shape == e.shape == (0, tiny_detector.dim)


def test_int8_is_close_but_not_exact_and_leaves_the_model_alone(tiny_detector):
    exact_p, exact_e = tiny_detector.encode_texts_pooled(TEXTS)
    p, e = tiny_detector.encode_texts_pooled(TEXTS, precision="int8")
    cos = (p * exact_p).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(exact_p, axis=1)
    assert np.isfinite(p).all() and np.isfinite(e).all()
    assert cos.min() > 0.9 and not np.allclose(p, exact_p, atol=1e-6)
    q = tiny_detector._int8_label_model
    assert q.token_rep_layer.bert_layer is tiny_detector.model.token_rep_layer.bert_layer  # shared, not copied
    linears = [type(m).__name__ for m in tiny_detector.model.token_rep_layer.labels_encoder.modules()
               if "Linear" in type(m).__name__]
    assert linears and set(linears) == {"Linear"}  # the detector's own label tower stays fp32
    again_p, _ = tiny_detector.encode_texts_pooled(TEXTS)
    np.testing.assert_array_equal(again_p, exact_p)


def test_unknown_precision_is_a_clear_error(tiny_detector, tmp_path, boston_dump):
    with pytest.raises(InputError, match="precision"):
        tiny_detector.encode_texts_pooled(TEXTS, precision="fp8")
    with pytest.raises(KBError, match="embed_precision"):
        build_kb(boston_dump, tmp_path / "kb", tiny_detector, embed_precision="bf16", progress=False)
    assert not (tmp_path / "kb").exists()


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_manifest_records_embedding_precision(tmp_path, boston_dump, tiny_detector, precision):
    manifest = build_kb(boston_dump, tmp_path / "kb", tiny_detector, embed_precision=precision, progress=False)
    assert manifest["embeddings"]["precision"] == precision
    on_disk = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    assert on_disk["embeddings"]["precision"] == precision and on_disk["counts"]["kept"] == len(BOSTON) - 2


def test_kb_build_config_defaults_to_exact_embedding():
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="kb_build", overrides=["dump=x.json", "output_dir=y"])
    assert cfg.embed_precision == "fp32" and cfg.embed_threads is None
