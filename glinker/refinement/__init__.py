"""Mention refinement: rules that correct detected spans before retrieval, one class per rule.

Each rule is a :class:`MentionRefiner`; the pipeline applies a list of them in order. Two kinds:

- general rules, where the KB confirms a longer or dotted name (:class:`NameExtension`,
  :class:`CommaNames`, :class:`AbbreviationDots`): what a user linking their own text wants;
- annotation conventions of particular benchmarks (:class:`PlaceQualifiers`, :class:`ArticleNames`):
  opt-in through the ``benchmark_conventions`` profile (glinker/conf/refiners/).
"""

from __future__ import annotations

from glinker.refinement.base import MentionRefiner, default_refiners
from glinker.refinement.rules import AbbreviationDots, ArticleNames, CommaNames, NameExtension, PlaceQualifiers

__all__ = ["AbbreviationDots", "ArticleNames", "CommaNames", "MentionRefiner", "NameExtension", "PlaceQualifiers",
           "default_refiners"]
