"""The :class:`MentionRefiner` protocol and the default list of rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from glinker.types import Mention


class MentionRefiner(Protocol):
    """Corrects the detected mentions of one text (character offsets, end exclusive)."""

    def refine(self, text: str, mentions: Sequence[Mention]) -> list[Mention]:
        """The mentions after the rule: some grown, merged or left as they were, in text order."""
        ...


def default_refiners(kb, conventions: bool = False) -> list[MentionRefiner]:
    """The rules ``glinker.link`` applies by default (in this order); ``conventions`` adds the benchmark
    annotation convention of joining a place qualifier to its place ("Muscatine, Iowa")."""
    from glinker.refinement.rules import AbbreviationDots, ArticleNames, CommaNames, NameExtension

    return [NameExtension(kb), CommaNames(kb, place_qualifiers=conventions), AbbreviationDots(kb), ArticleNames(kb)]
