"""glinker: entity linking over Wikidata with a GLiNER span bi-encoder.

Main entry points: :func:`load` (the CLI's pipeline in Python), :class:`Pipeline` (built from your own
stages), ``python -m glinker.link`` (CLI), ``python -m kb_build`` (KB construction).
"""

from __future__ import annotations

from glinker.pipeline import Pipeline
from glinker.types import Candidate, Document, EntityRecord, LinkDecision, LinkedMention, Mention

__all__ = ["Candidate", "Document", "EntityRecord", "LinkDecision", "LinkedMention", "Mention", "Pipeline", "load"]


def load(kb_dir=None, model=None, labels=None, overrides=(), **kwargs) -> Pipeline:
    """The pipeline ``python -m glinker.link`` runs, built in this process (:func:`glinker.config.load_pipeline`):
    ``glinker.load()`` links with the default model and the demo KB, ``glinker.load(kb_dir="kb/arnold")``
    with your KB. Configuration (Hydra) is imported only when this is called."""
    from glinker.config import load_pipeline

    return load_pipeline(kb_dir=kb_dir, model=model, labels=labels, overrides=overrides, **kwargs)
__version__ = "0.1.0"
