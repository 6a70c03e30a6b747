"""Mention refinement: rules that correct detected spans before retrieval, one class per rule.

Each rule is a :class:`MentionRefiner`; the pipeline applies a list of them in order. Two kinds:

- general rules, where the KB confirms a longer, dotted or "The ..." name (:class:`NameExtension`,
  :class:`CommaNames`, :class:`AbbreviationDots`, :class:`ArticleNames`): what a user linking their own
  text wants ("The Terminator" is the film's name);
- annotation conventions of particular benchmarks (:class:`PlaceQualifiers`: "Muscatine, Iowa" as one
  mention of the town), opt-in with pronoun coreference through ``conventions=benchmarks``
  (glinker/conf/conventions/).
"""

from __future__ import annotations

from glinker.refinement.base import MentionRefiner, default_refiners
from glinker.refinement.rules import AbbreviationDots, ArticleNames, CommaNames, NameExtension, PlaceQualifiers

__all__ = ["AbbreviationDots", "ArticleNames", "CommaNames", "MentionRefiner", "NameExtension", "PlaceQualifiers",
           "default_refiners"]
