"""Candidate retrieval: dense (span vector), name (mention text), alias (exact), demonym, and their union.

A retriever maps mentions to :class:`glinker.types.Candidate` lists from the KB.
"""
from __future__ import annotations

from glinker.retrieval.candidates import (
    AliasRetriever,
    DenseRetriever,
    NameEncoder,
    NameRetriever,
    Retriever,
    UnionRetriever,
)
from glinker.retrieval.demonyms import DemonymRetriever

__all__ = ["AliasRetriever", "DemonymRetriever", "DenseRetriever", "NameEncoder", "NameRetriever", "Retriever",
           "UnionRetriever"]
