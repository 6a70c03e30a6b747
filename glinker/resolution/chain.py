"""Several resolvers one after another in the pipeline's one coreference slot."""

from __future__ import annotations

from collections.abc import Sequence

from glinker.types import LinkDecision, Mention


class ResolverChain:
    """Applies resolvers in order, each to the decisions the one before it left.

    The names resolver runs before the pronoun one, so "Schwarzenegger ... he" finds the person the surname was
    resolved to. ``window_chars`` is the longest look-back of the chain (``None`` when a resolver has none: then
    the pipeline gives the chain one segment at a time).

    Args:
        resolvers: Objects with ``resolve(mentions, decisions, preceding=())``.
    """

    def __init__(self, resolvers: Sequence) -> None:
        self.resolvers = list(resolvers)
        windows = [getattr(r, "window_chars", None) for r in self.resolvers]
        self.window_chars = None if not windows or None in windows else max(windows)

    def resolve(self, mentions: Sequence[Mention], decisions: Sequence[LinkDecision],
                preceding: Sequence[tuple[Mention, LinkDecision]] = ()) -> list[LinkDecision]:
        """The decisions after every resolver of the chain (as :meth:`NameResolver.resolve
        <glinker.resolution.names.NameResolver.resolve>`)."""
        out = list(decisions)
        for resolver in self.resolvers:
            out = resolver.resolve(mentions, out, preceding) if self.window_chars is not None else \
                resolver.resolve(mentions, out)
        return out
