"""The GLiNER span bi-encoder, in this project's own torch code."""

from __future__ import annotations

from glinker.model.checkpoint import BiEncoderBundle, load_checkpoint, save_checkpoint
from glinker.model.config import BiEncoderConfig
from glinker.model.network import SpanBiEncoder

__all__ = ["BiEncoderBundle", "BiEncoderConfig", "SpanBiEncoder", "load_checkpoint", "save_checkpoint"]
