"""Batched encoding of strings with the label tower: label names and KB entity texts.

Entity texts are short (13 sub-tokens on average for ``"{label}: {description}"``
over Wikidata, a long tail to ~80), so a batch padded to its longest member
wastes most of its compute when texts come in dump order. Here every text is
tokenised once, texts are sorted by token length and cut into batches that
carry almost no padding (at most ``max_padding``, 5 %): the outputs are the same
as a plain padded loop's (fp32, up to summation order), at a fraction of the
matrix work. Measured in ``benchmarks/bench_embed.py``.

``precision="int8"`` runs the label encoder's linear layers with dynamic int8
quantisation (weights per output channel, activations per batch). It is about
twice as fast again on CPUs with VNNI but lossy (cosine to fp32 ≈ 0.996 on
average), so it is never the default.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from glinker.errors import InputError
from glinker.model.network import SpanBiEncoder

PRECISIONS = ("fp32", "int8")


def length_batches(lengths: Sequence[int], batch_size: int, max_padding: float = 0.05) -> list[list[int]]:
    """Group indices into batches of similar length, shortest first.

    Each batch holds at most ``batch_size`` items, and its padded size (items × longest)
    exceeds the sum of its lengths by at most the fraction ``max_padding``: with 0 a batch
    never mixes lengths. Batches without padding also let the encoder skip the attention
    mask, which measured faster than the few extra, smaller batches cost.
    The sort is stable, so equal-length items keep their input order.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    if max_padding < 0:
        raise InputError(f"max_padding must be >= 0, got {max_padding}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        # sorted ascending: the newcomer is the longest, so it sets the padded width
        padded = (len(current) + 1) * lengths[i]
        if current and (len(current) == batch_size or padded > (1 + max_padding) * (real + lengths[i])):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into ``(input_ids, attention_mask)`` tensors."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, : len(r)] = 1
    return ids, mask


def int8_label_model(model: SpanBiEncoder) -> SpanBiEncoder:
    """A copy of ``model`` whose label encoder's linear layers use dynamic int8 quantisation.

    The text tower is shared with ``model``, not copied (only the label side is used).
    ``prompt_rep_layer`` stays fp32: it costs one row per text, not one per token.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    towers = model.token_rep_layer
    # deepcopy's memo maps the text tower to itself: shared, not duplicated
    label_model = copy.deepcopy(model, memo={id(towers.bert_layer): towers.bert_layer})
    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated (in favour of torchao) but ships it
        warnings.simplefilter("ignore")
        quantize_dynamic(label_model.token_rep_layer.labels_encoder, {nn.Linear: per_channel_dynamic_qconfig},
                         dtype=torch.qint8, inplace=True)
    return label_model.eval()


@torch.inference_mode()
def encode_label_texts(
    model: SpanBiEncoder,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    max_padding: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """(P, E) for ``texts``: ``prompt_rep_layer`` vectors and mean-pooled label-tower embeddings.

    Args:
        model: The bi-encoder (or an :func:`int8_label_model` copy).
        tokenizer: Its label tokenizer.
        texts: Strings to encode, in any order; rows of the results follow it.
        batch_size: Most texts per forward pass.
        max_length: Sub-token truncation length (special tokens included).
        max_padding: Most padding per batch, as a fraction of its real tokens.

    Returns:
        Two float32 arrays of shape (len(texts), D).
    """
    dim = model.hidden_size
    p_out = np.zeros((len(texts), dim), dtype=np.float32)
    e_out = np.zeros((len(texts), dim), dtype=np.float32)
    if not len(texts):
        return p_out, e_out
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id or 0
    for idx in length_batches([len(r) for r in ids], batch_size, max_padding):
        input_ids, mask = pad_ids([ids[i] for i in idx], pad_id)
        emb = model.label_embeddings(input_ids, mask)
        p_out[idx] = model.label_reps(emb).float().numpy()
        e_out[idx] = emb.float().numpy()
    return p_out, e_out
