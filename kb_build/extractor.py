"""Per-entity extraction from Wikidata dump lines, with filters: :class:`Extractor`.

Lines are decoded with the schema of :mod:`kb_build.entity_schema`; :mod:`kb_build.extract`
runs an extractor over a whole dump, in this process or in worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from glinker.types import EntityRecord
from kb_build.entity_schema import (
    EntityFields,
    MalformedEntity,
    astuple,
    make_decoder,
    new_record,
    statement_targets,
    text_values,
)

DISAMBIGUATION_PAGE = "Q4167410"
SCHOLARLY_ARTICLE = "Q13442814"
# Wikimedia category, Wikimedia template, Wikinews article, Wikimedia list article
CATEGORY_LIKE = frozenset({"Q4167836", "Q11266439", "Q17633526", "Q13406463"})
MULTILINGUAL = "mul"
"""Wikidata's language code for labels valid in every language; tried after the configured ones."""

_TYPE_BY_PREFIX = {"Q": "item", "P": "property", "L": "lexeme", "M": "mediainfo"}


@dataclass(frozen=True)
class FilterConfig:
    """Which entities :class:`Extractor` drops, and under which reason.

    Attributes:
        require_label: Drop entities without a label in the configured languages (``"no_label"``).
        drop_disambiguation: Drop P31 Q4167410, disambiguation page (``"disambiguation"``).
        drop_scholarly_articles: Drop P31 Q13442814, scholarly article (``"scholarly_article"``).
        drop_categories_templates: Drop P31 Q4167836 (category), Q11266439 (template), Q17633526
            (Wikinews article), Q13406463 (list article) (``"category_or_template"``).
        keep_properties: Keep P-entities (else reason ``"property"``).
        keep_lexemes: Keep lexemes, labelled by their lemma (else reason ``"lexeme"``).
    """

    require_label: bool = True
    drop_disambiguation: bool = True
    drop_scholarly_articles: bool = True
    drop_categories_templates: bool = True
    keep_properties: bool = False
    keep_lexemes: bool = False


def names_popularity(names: int) -> float:
    """A popularity prior from the number of names an entity has, for dumps without sitelinks or a table.

    Below one sitelink's worth (at most 0.9) so that real sitelink counts always dominate when present;
    rising with the count, as well-known entities collect names in many languages.
    """
    return 0.9 * (1.0 - 1.0 / (1.0 + names))


class Extractor:
    """Turns one dump line into an :class:`EntityRecord` or the reason it was filtered out.

    Label and description come from the first language in ``languages`` that has one, then
    from ``"mul"``. Aliases are, language by language in that order, the language's label
    and its aliases, without duplicates and without the chosen label.

    ``types`` (P31) and ``superclasses`` (P279) keep the targets of all non-deprecated
    statements (preferred *and* normal rank), in statement order, deduplicated;
    ``novalue`` / ``somevalue`` snaks are skipped. This is wider than Wikidata's "truthy"
    set (only the preferred statements when there are any): an entity whose P31 lists a
    preferred and a normal class keeps both.

    Filters apply in this order: entity type, P31 filters, missing label.

    Instances are picklable (the decoder is rebuilt after unpickling) for worker processes.

    Args:
        languages: Language codes in fallback order.
        filters: Which entities to drop.
        popularity: Optional popularity table (qid -> score); missing qids get 0.0.
            Without a table, popularity is the sitelink count; an entity without sitelinks (a dump
            slice that dropped them) gets a small score from how many names it has (label and
            aliases in every language, :func:`names_popularity`), so the most-named homonym still
            ranks first.
    """

    def __init__(
        self,
        languages: Sequence[str] = ("en",),
        filters: FilterConfig = FilterConfig(),
        popularity: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(languages, str):
            languages = (languages,)
        if not languages:
            raise ValueError("Extractor needs at least one language")
        self.languages = tuple(languages)
        self.filters = filters
        self.popularity = popularity
        lookup = list(dict.fromkeys(self.languages))
        if MULTILINGUAL not in lookup:
            lookup.append(MULTILINGUAL)
        self._lookup = tuple(lookup)
        self._nones = (None,) * len(lookup)
        self._decoder = make_decoder(self._lookup)

    def __getstate__(self) -> dict[str, Any]:
        # msgspec decoders and dynamically defined Structs do not pickle.
        return {k: v for k, v in self.__dict__.items() if k != "_decoder"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._decoder = make_decoder(self._lookup)

    def extract(self, line: bytes) -> EntityRecord | str:
        """Extracts one entity.

        Args:
            line: One entity's JSON (as yielded by :func:`kb_build.dump.iter_lines`).

        Returns:
            An :class:`EntityRecord` (``row=-1``), or the reason the entity was dropped:
            ``"property"``, ``"lexeme"``, ``"other_type"``, ``"disambiguation"``,
            ``"scholarly_article"``, ``"category_or_template"`` or ``"no_label"``.

        Raises:
            MalformedEntity: The line is not valid JSON or not an entity.
        """
        fields = self.extract_fields(line)
        return fields if type(fields) is str else new_record(fields)

    def extract_fields(self, line: bytes) -> EntityFields | str:
        """:meth:`extract` without building the record: its fields as a plain tuple (what workers send)."""
        try:
            entity = self._decoder.decode(line)
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            raise MalformedEntity(f"invalid entity JSON: {exc}") from None
        qid = entity.id
        if not qid:
            raise MalformedEntity("entity has an empty 'id'")
        filters = self.filters
        kind = entity.type or _TYPE_BY_PREFIX.get(qid[0], "")
        if kind != "item":
            if kind == "property":
                if not filters.keep_properties:
                    return "property"
            elif kind == "lexeme":
                if not filters.keep_lexemes:
                    return "lexeme"
            else:
                return "other_type"

        claims = entity.claims
        if type(claims) is list:
            types: tuple[str, ...] = ()
            superclasses: tuple[str, ...] = ()
        else:
            types = statement_targets(claims.P31) if claims.P31 else ()
            superclasses = statement_targets(claims.P279) if claims.P279 else ()
            if types:
                if filters.drop_disambiguation and DISAMBIGUATION_PAGE in types:
                    return "disambiguation"
                if filters.drop_scholarly_articles and SCHOLARLY_ARTICLE in types:
                    return "scholarly_article"
                if filters.drop_categories_templates and not CATEGORY_LIKE.isdisjoint(types):
                    return "category_or_template"

        # One entry per lookup language (None: absent), so the loops below zip them.
        nones = self._nones
        labels = nones if type(entity.labels) is list else astuple(entity.labels)
        if kind == "lexeme" and not any(labels):
            labels = text_values(entity.lemmas) or nones
        label = ""
        for text in labels:
            if text is not None and text.value:
                label = text.value
                break
        if not label and filters.require_label:
            return "no_label"

        # Language by language: its label (if not the chosen one), then its aliases.
        seen = {label, ""}  # "" so that empty strings never become aliases
        aliases: list[str] = []
        alias_lists = nones if type(entity.aliases) is list else astuple(entity.aliases)
        for text, alias_list in zip(labels, alias_lists):
            if text is not None and text.value not in seen:
                seen.add(text.value)
                aliases.append(text.value)
            if alias_list:
                for alias in alias_list:
                    if alias.value not in seen:
                        seen.add(alias.value)
                        aliases.append(alias.value)

        description = ""
        if type(entity.descriptions) is not list:
            for text in astuple(entity.descriptions):
                if text is not None and text.value:
                    description = text.value
                    break
        sitelinks = len(entity.sitelinks)
        if self.popularity is not None:
            popularity = float(self.popularity.get(qid, 0.0))
        elif sitelinks:
            popularity = float(sitelinks)
        else:
            popularity = names_popularity(len(aliases) + bool(label))
        return (qid, label, description, tuple(aliases), types, superclasses, sitelinks, popularity)

