"""Torch modules of the span bi-encoder (FIELD_NOTES §1).

Parameter names mirror the reference ``gliner`` package
(``token_rep_layer.bert_layer.model.*``, ``span_rep_layer.span_rep_layer.*``,
``prompt_rep_layer.*``) so checkpoints move between the two without renaming.
"""

from __future__ import annotations

import torch
from torch import nn


def projection_mlp(in_dim: int, dropout: float, out_dim: int | None = None) -> nn.Sequential:
    """Linear(in, 4·out) → ReLU → Dropout → Linear(4·out, out), GLiNER's projection block."""
    out_dim = in_dim if out_dim is None else out_dim
    return nn.Sequential(
        nn.Linear(in_dim, out_dim * 4), nn.ReLU(), nn.Dropout(dropout), nn.Linear(out_dim * 4, out_dim)
    )


class _Transformer(nn.Module):
    """Holds a Hugging Face encoder under ``.model`` (the reference's key layout)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)[0]


class _TwoTowers(nn.Module):
    """Text tower (``bert_layer``) and label tower (``labels_encoder``) with optional projections."""

    def __init__(self, text_encoder: nn.Module, label_encoder: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.bert_layer = _Transformer(text_encoder)
        self.labels_encoder = _Transformer(label_encoder)
        text_dim = text_encoder.config.hidden_size
        label_dim = label_encoder.config.hidden_size
        if text_dim != hidden_size:
            self.projection = nn.Linear(text_dim, hidden_size)
        if label_dim != hidden_size:
            self.labels_projection = nn.Linear(label_dim, hidden_size)


class _SpanMarkerV0(nn.Module):
    def __init__(self, hidden_size: int, max_width: int, dropout: float) -> None:
        super().__init__()
        self.max_width = max_width
        self.project_start = projection_mlp(hidden_size, dropout)
        self.project_end = projection_mlp(hidden_size, dropout)
        self.out_project = projection_mlp(hidden_size * 2, dropout, hidden_size)


class _SpanRepLayer(nn.Module):
    def __init__(self, hidden_size: int, max_width: int, dropout: float) -> None:
        super().__init__()
        self.span_rep_layer = _SpanMarkerV0(hidden_size, max_width, dropout)


class SpanBiEncoder(nn.Module):
    """GLiNER span bi-encoder: words → span vectors S, labels → label vectors P, score = S·P.

    Args:
        text_encoder: Hugging Face encoder for the text (e.g. a ``BertModel``).
        label_encoder: Hugging Face encoder for label strings.
        hidden_size: Width D of span and label representations.
        max_width: Longest span, in words.
        dropout: Dropout of the MLP heads.
        subtoken_pooling: "first" or "last" sub-token per word.
    """

    def __init__(
        self,
        text_encoder: nn.Module,
        label_encoder: nn.Module,
        hidden_size: int,
        max_width: int = 12,
        dropout: float = 0.4,
        subtoken_pooling: str = "first",
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.max_width = max_width
        self.subtoken_pooling = subtoken_pooling
        self.token_rep_layer = _TwoTowers(text_encoder, label_encoder, hidden_size)
        self.span_rep_layer = _SpanRepLayer(hidden_size, max_width, dropout)
        self.prompt_rep_layer = projection_mlp(hidden_size, dropout)

    # --- text side -----------------------------------------------------------------
    def word_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, words_mask: torch.Tensor, num_words: int
    ) -> torch.Tensor:
        """Encode tokens and gather one vector per word.

        Args:
            input_ids: (B, T) token ids.
            attention_mask: (B, T).
            words_mask: (B, T) 1-based word index on the sub-token that represents the
                word, 0 elsewhere.
            num_words: L, the longest word count in the batch.

        Returns:
            (B, L, D) word vectors; rows past a text's length are zero.
        """
        towers = self.token_rep_layer
        tokens = towers.bert_layer(input_ids, attention_mask)
        if hasattr(towers, "projection"):
            tokens = towers.projection(tokens)
        batch, _, dim = tokens.shape
        words = tokens.new_zeros((batch, num_words, dim))
        b_idx, t_idx = torch.where(words_mask > 0)
        words[b_idx, words_mask[b_idx, t_idx] - 1] = tokens[b_idx, t_idx]
        return words

    def span_reps(self, words: torch.Tensor) -> torch.Tensor:
        """Span vectors for every (start, width) pair: (B, L, K, D).

        Span (i, k) covers words i..i+k. Spans running past the text are computed
        on zero padding and must be masked by the caller.
        """
        return self.span_out(self.span_hidden(words))

    def span_out(self, hidden: torch.Tensor) -> torch.Tensor:
        """Span vectors from :meth:`span_hidden` rows (the MLP's last Linear): (..., 4D) -> (..., D)."""
        out = self.span_rep_layer.span_rep_layer.out_project
        return out[3](out[2](hidden))

    def span_hidden(self, words: torch.Tensor) -> torch.Tensor:
        """The span MLP's hidden layer ``ReLU(W1·ReLU([start_i; end_i+k]) + b1)``: (B, L, K, 4D).

        Same values as the reference's concatenate-then-project, computed per word: the ReLU
        is element-wise, so ``W1·[s; e] = W1[:, :D]·s + W1[:, D:]·e``, and each half is a
        (L, D)×(D, 4D) product instead of one (L·K, 2D)×(2D, 4D) product — K times fewer
        multiplications for the largest layer of span scoring.
        """
        start, end = self._span_halves(words)
        width = self.max_width
        # end terms for i+k: pad K-1 zero rows (a zero end vector contributes nothing), take K shifted views
        end_padded = nn.functional.pad(end, (0, 0, 0, width - 1))
        end_shifted = end_padded.unfold(1, width, 1).permute(0, 1, 3, 2)  # (B, L, K, 4D)
        return (start.unsqueeze(2) + end_shifted).relu()

    def span_hidden_at(self, words: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """:meth:`span_hidden` rows of the spans ``(b, i, k)`` (an (N, 3) index tensor) only: (N, 4D).

        The same values as ``span_hidden(words)[b, i, k]`` for spans inside the words (``i + k < L``),
        without the (B, L, K, 4D) tensor of every span, padding included.
        """
        start, end = self._span_halves(words)
        flat_start = start.reshape(-1, start.shape[-1])
        at = spans[:, 0] * words.shape[1] + spans[:, 1]
        rows = flat_start.index_select(0, at)
        rows += end.reshape(-1, end.shape[-1]).index_select(0, at + spans[:, 2])
        return rows.relu_()

    def _span_halves(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The start term (bias included) and the end term of the span MLP's hidden layer, per word: (B, L, 4D)."""
        marker = self.span_rep_layer.span_rep_layer
        first = marker.out_project[0]
        dim = words.shape[-1]
        start = nn.functional.linear(marker.project_start(words).relu(), first.weight[:, :dim], first.bias)
        end = nn.functional.linear(marker.project_end(words).relu(), first.weight[:, dim:])
        return start, end

    # --- label side ----------------------------------------------------------------
    def label_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Label tower output, per-token projected then mean-pooled: E (C, D)."""
        towers = self.token_rep_layer
        states = towers.labels_encoder(input_ids, attention_mask)
        if hasattr(towers, "labels_projection"):
            states = towers.labels_projection(states)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def label_reps(self, embeddings: torch.Tensor) -> torch.Tensor:
        """P = prompt_rep_layer(E): the vectors spans are scored against (C, D)."""
        return self.prompt_rep_layer(embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        words_mask: torch.Tensor,
        num_words: int,
        labels_input_ids: torch.Tensor,
        labels_attention_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Training/inference forward: span logits (B, L, K, C)."""
        words = self.word_states(input_ids, attention_mask, words_mask, num_words)
        spans = self.span_reps(words)
        labels = self.label_reps(self.label_embeddings(labels_input_ids, labels_attention_mask))
        return torch.einsum("blkd,cd->blkc", spans, labels)
