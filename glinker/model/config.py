"""The subset of GLiNER's ``gliner_config.json`` this implementation understands.

Unknown keys are kept verbatim so a checkpoint saved by us still loads in the
reference ``gliner`` package; keys that change the architecture into something
we do not implement are refused with a clear error.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from glinker.errors import ModelError

_SUPPORTED_POOLING = ("first", "last")


@dataclass
class BiEncoderConfig:
    """Architecture of a span bi-encoder checkpoint.

    Attributes:
        model_name: Text encoder name or path (``gliner_config.json`` ``model_name``).
        labels_encoder: Label encoder name or path.
        hidden_size: Width D of word, span and label representations.
        max_width: Longest span in words.
        dropout: Dropout of the MLP heads (training only).
        subtoken_pooling: Which sub-token represents a word ("first" or "last").
        max_len: Word budget of one window (the reference truncates here; we chunk).
        encoder_config: Hugging Face config dict of the text encoder, if embedded.
        labels_encoder_config: Hugging Face config dict of the label encoder, if embedded.
        extra: Every other key of the file, preserved on save.
    """

    model_name: str
    labels_encoder: str
    hidden_size: int = 384
    max_width: int = 12
    dropout: float = 0.4
    subtoken_pooling: str = "first"
    max_len: int = 384
    encoder_config: dict[str, Any] | None = None
    labels_encoder_config: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "gliner_config.json") -> BiEncoderConfig:
        """Validate a ``gliner_config.json`` dict; raise :class:`ModelError` if unsupported."""
        raw = copy.deepcopy(raw)
        if not raw.get("labels_encoder"):
            raise ModelError(
                f"{source}: no 'labels_encoder': this is a uni-encoder GLiNER; "
                "glinker needs a bi-encoder checkpoint (e.g. knowledgator/gliner-bi-*)"
            )
        checks = {
            "span_mode": ("markerV0",),
            "post_fusion_schema": ("", None),
            "fuse_layers": (False, None),
            "labels_decoder": (None,),
            "relations_layer": (None,),
            "span_encoder_config": (None,),
        }
        for key, allowed in checks.items():
            if key in raw and raw[key] not in allowed:
                raise ModelError(
                    f"{source}: {key}={raw[key]!r} is not supported (supported: {allowed[0]!r})"
                )
        pooling = raw.get("subtoken_pooling", "first") or "first"
        if pooling not in _SUPPORTED_POOLING:
            raise ModelError(f"{source}: subtoken_pooling={pooling!r} is not supported ({_SUPPORTED_POOLING})")
        splitter = raw.get("words_splitter_type", "whitespace")
        if splitter != "whitespace":
            raise ModelError(f"{source}: words_splitter_type={splitter!r} is not supported ('whitespace')")
        known = {
            "model_name": raw.pop("model_name", None),
            "labels_encoder": raw.pop("labels_encoder"),
            "hidden_size": int(raw.pop("hidden_size", 768)),
            "max_width": int(raw.pop("max_width", 12)),
            "dropout": float(raw.pop("dropout", 0.4)),
            "subtoken_pooling": pooling,
            "max_len": int(raw.pop("max_len", 384)),
            "encoder_config": raw.pop("encoder_config", None),
            "labels_encoder_config": raw.pop("labels_encoder_config", None),
        }
        raw.pop("subtoken_pooling", None)
        if not known["model_name"]:
            raise ModelError(f"{source}: 'model_name' is missing")
        return cls(**known, extra=raw)

    def to_dict(self) -> dict[str, Any]:
        """The ``gliner_config.json`` content, reference-compatible."""
        out = copy.deepcopy(self.extra)
        out.update(
            {
                "model_name": self.model_name,
                "labels_encoder": self.labels_encoder,
                "hidden_size": self.hidden_size,
                "max_width": self.max_width,
                "dropout": self.dropout,
                "subtoken_pooling": self.subtoken_pooling,
                "max_len": self.max_len,
                "encoder_config": copy.deepcopy(self.encoder_config),
                "labels_encoder_config": copy.deepcopy(self.labels_encoder_config),
                "span_mode": "markerV0",
                "words_splitter_type": "whitespace",
            }
        )
        for key in ("encoder_config", "labels_encoder_config"):
            if out[key]:
                out[key].pop("_name_or_path", None)  # a local path of the machine that saved it
        # We never build the LSTM the reference creates but does not call in the
        # bi-encoder; saying so keeps the reference from expecting its weights.
        out["num_rnn_layers"] = 0
        out.setdefault("post_fusion_schema", "")
        out.setdefault("fuse_layers", False)
        return out
