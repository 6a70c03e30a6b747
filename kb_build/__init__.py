"""Index a Wikidata JSON dump into a glinker knowledge base (``python -m kb_build``)."""

from __future__ import annotations
