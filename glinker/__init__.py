"""glinker: entity linking over Wikidata with a GLiNER span bi-encoder.

Main entry points: :class:`Pipeline` (Python API), ``python -m glinker.link``
(CLI), ``python -m kb_build`` (KB construction).
"""

from __future__ import annotations

from glinker.pipeline import Pipeline
from glinker.types import Candidate, Document, EntityRecord, LinkDecision, LinkedMention, Mention

__all__ = ["Candidate", "Document", "EntityRecord", "LinkDecision", "LinkedMention", "Mention", "Pipeline"]
__version__ = "0.1.0"
