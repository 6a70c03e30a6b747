"""Resolution after reranking: mentions whose link follows from another mention's (pronoun coreference)."""
from __future__ import annotations

from glinker.resolution.coref import PronounResolver

__all__ = ["PronounResolver"]
