"""Mention detection: the GLiNER span bi-encoder, a KB-alias dictionary detector, and their union.

A detector maps texts to :class:`glinker.types.Mention` lists (character offsets, label, score, span
vector); the pipeline refines and links them.
"""
from __future__ import annotations

from glinker.detection.alias import AliasMentionDetector, UnionDetector
from glinker.detection.bi_encoder import BiEncoderDetector

__all__ = ["AliasMentionDetector", "BiEncoderDetector", "UnionDetector"]
