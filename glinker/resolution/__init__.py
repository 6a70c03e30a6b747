"""Resolution after reranking: mentions whose link follows from another mention's (a short form of a person's
name, pronoun coreference)."""
from __future__ import annotations

from glinker.resolution.chain import ResolverChain
from glinker.resolution.coref import PronounResolver
from glinker.resolution.names import NameResolver

__all__ = ["NameResolver", "PronounResolver", "ResolverChain"]
