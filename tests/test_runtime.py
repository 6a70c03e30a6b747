"""The towers' optional runtimes (glinker/model/runtime.py) against the torch fp32 path, on the tiny model."""

from __future__ import annotations

import copy
import importlib.util
import sys

import numpy as np
import pytest
import torch

from glinker.detection.bi_encoder import BiEncoderDetector
from glinker.errors import InputError, ModelError
from glinker.model.runtime import OnnxEncoder, accelerated_model, onnx_export

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime / onnx not installed (pip install onnxruntime onnx)")

SENTENCES = ["Barack Obama met Angela Merkel in Berlin on Tuesday.",
             "The Beatles recorded Abbey Road at EMI Studios in London.",
             "Apple was founded by Steve Jobs."]
LABELS = ["person", "location", "organization"]
# fp32 ONNX Runtime and torch differ by summation order only
FP32_TOL = 1e-4


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    det = BiEncoderDetector(str(tiny_model_dir), labels=LABELS, threshold=0.2)
    return det, [det.span_logits(s, LABELS)[1] for s in SENTENCES], det.encode_texts_pooled(SENTENCES)


def _mentions(det):
    return [[(m.start, m.end, m.label) for m in ms] for ms in det.detect(SENTENCES, LABELS)]


@needs_ort
def test_onnx_fp32_scores_match_torch(reference, tmp_path):
    ref, logits, (p_ref, e_ref) = reference
    det = BiEncoderDetector(ref.bundle, labels=LABELS, threshold=0.2, runtime="onnx", label_runtime="onnx",
                            onnx_cache_dir=tmp_path)
    for s, want in zip(SENTENCES, logits):
        assert torch.allclose(det.span_logits(s, LABELS)[1], want, atol=FP32_TOL)
    p, e = det.encode_texts_pooled(SENTENCES)
    np.testing.assert_allclose(p, p_ref, atol=FP32_TOL)
    np.testing.assert_allclose(e, e_ref, atol=FP32_TOL)
    assert _mentions(det) == _mentions(ref)
    assert ref.model.token_rep_layer.bert_layer is not det._text_model.token_rep_layer.bert_layer


@needs_ort
def test_onnx_export_keeps_the_padding_mask(reference, tmp_path):
    """A padded batch: the export must not have traced the mask away (real tokens equal torch's)."""
    ref = reference[0]
    tower = ref.model.token_rep_layer.bert_layer
    ids = ref.bundle.tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert not bool(ids["attention_mask"].all())
    want = tower(ids["input_ids"], ids["attention_mask"])
    got = OnnxEncoder(onnx_export(tower, None, tmp_path))(ids["input_ids"], ids["attention_mask"])
    real = ids["attention_mask"].bool()
    assert torch.allclose(got[real], want[real], atol=FP32_TOL)


@pytest.mark.parametrize("runtime", ["torch", pytest.param("onnx", marks=needs_ort)])
def test_int8_is_close_and_leaves_the_fp32_model_alone(reference, tmp_path, runtime):
    ref, logits, (p_ref, _) = reference
    before = _mentions(ref)
    det = BiEncoderDetector(ref.bundle, labels=LABELS, threshold=0.2, runtime=runtime, quantize="int8",
                            label_runtime=runtime, label_quantize="int8", onnx_cache_dir=tmp_path)
    got = torch.cat([det.span_logits(s, LABELS)[1].flatten() for s in SENTENCES])
    want = torch.cat([x.flatten() for x in logits])
    # lossy: dynamic int8 of a random 2-layer model keeps the logits' shape, not their last digits
    assert torch.corrcoef(torch.stack([got, want]))[0, 1] > 0.99
    p, _ = det.encode_texts_pooled(SENTENCES)
    cos = (p * p_ref).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(p_ref, axis=1)
    assert cos.min() > 0.99
    # label vectors and explicit fp32 requests stay exact; the shared bundle is not quantised
    np.testing.assert_array_equal(det.encode_texts(LABELS), ref.encode_texts(LABELS))
    assert _mentions(ref) == before


@needs_ort
def test_export_is_cached_and_rebuilt_when_the_weights_change(reference, tmp_path):
    tower = reference[0].model.token_rep_layer.labels_encoder
    first = onnx_export(tower, None, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert onnx_export(tower, None, tmp_path) == first and first.stat().st_mtime_ns == stamp  # reused
    changed = copy.deepcopy(tower)
    with torch.no_grad():
        changed.model.encoder.layer[0].output.dense.weight.mul_(1.5)
    second = onnx_export(changed, None, tmp_path)
    assert second != first
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        assert torch.allclose(OnnxEncoder(second)(ids, mask), changed(ids, mask), atol=FP32_TOL)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])  # no build leftovers


def test_torch_fp32_is_the_model_itself(reference):
    model = reference[0].model
    assert accelerated_model(model, {"text": ("torch", None), "label": ("torch", "null")}) is model


def test_bad_settings_are_refused(reference):
    with pytest.raises(InputError, match="runtime"):
        BiEncoderDetector(reference[0].bundle, runtime="tensorrt")
    with pytest.raises(InputError, match="quantize"):
        BiEncoderDetector(reference[0].bundle, quantize="int4")


def test_missing_onnxruntime_names_the_install_command(reference, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ModelError, match="pip install"):
        BiEncoderDetector(reference[0].bundle, runtime="onnx", onnx_cache_dir=tmp_path)
