"""Dictionary mention detection over the KB's aliases (Aho-Corasick), and its union with the bi-encoder.

The bi-encoder only finds entities whose type the label set names; matching KB
aliases finds the rest. Matching runs on a normalised copy of the text (the same
normalisation as the alias index) with a map back to original offsets, keeps
whole-word matches only, prefers longer matches, and skips stop words, short
aliases and (by default) matches with no capital letter.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

import ahocorasick

from glinker.kb import KnowledgeBase
from glinker.surface import NAME_CONNECTORS
from glinker.types import Mention

logger = logging.getLogger(__name__)

STOP_WORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very can will just don should now i me my we
    our you your he him his she her it its they them their what which who whom this that these those am is are was
    were be been being have has had having do does did doing would could may might must shall also new one two three
    first last year years time day days man men people world city state part group company team film book album
    song series game show party church school house""".split()
)


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """The alias normalisation of ``text`` (accents stripped, case-folded) and, per output char, its source index."""
    out: list[str] = []
    src: list[int] = []
    for i, ch in enumerate(text):
        decomposed = unicodedata.normalize("NFKD", ch)
        for d in decomposed:
            if unicodedata.combining(d):
                continue
            for f in d.casefold():
                if f in "\u2019\u2018":
                    f = "'"
                elif f in "\u2013\u2014":
                    f = "-"
                elif f.isspace():
                    f = " "
                out.append(f)
                src.append(i)
    return "".join(out), src


class AliasMentionDetector:
    """Finds mentions by matching KB labels and aliases.

    Args:
        kb: The opened knowledge base (its alias index supplies the dictionary).
        min_chars: Shortest alias matched.
        require_capital: Keep a match only if its text has an upper-case letter or a digit.
        stop_words: Aliases never matched on their own.
        label: Label given to dictionary mentions.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        min_chars: int = 3,
        require_capital: bool = True,
        stop_words: Sequence[str] | None = None,
        label: str = "entity",
    ) -> None:
        self.kb = kb
        self.min_chars = int(min_chars)
        self.require_capital = require_capital
        self.stop_words = frozenset(stop_words) if stop_words is not None else STOP_WORDS
        self.label = label
        self._automaton = self._build()

    def _build(self) -> ahocorasick.Automaton:
        auto = ahocorasick.Automaton()
        n = 0
        last = None
        for alias, _qid in self.kb.store.iter_aliases():
            if alias == last:  # dupsort yields one row per homonym; the key is enough
                continue
            last = alias
            if len(alias) < self.min_chars or alias in self.stop_words or " " in alias and len(alias) > 120:
                continue
            auto.add_word(alias, len(alias))
            n += 1
        auto.make_automaton()
        logger.info("alias detector: %d aliases", n)
        return auto

    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Longest whole-word alias matches, non-overlapping, left to right."""
        return [self._detect_one(t) for t in texts]

    def _detect_one(self, text: str) -> list[Mention]:
        norm, src = normalize_with_offsets(text)
        found: list[tuple[int, int]] = []
        for end_idx, length in self._automaton.iter(norm):
            start_idx = end_idx - length + 1
            if start_idx > 0 and norm[start_idx - 1].isalnum():
                continue
            if end_idx + 1 < len(norm) and norm[end_idx + 1].isalnum():
                continue
            found.append((start_idx, end_idx + 1))
        found.sort(key=lambda se: (-(se[1] - se[0]), se[0]))
        taken: list[tuple[int, int]] = []
        for s, e in found:
            if any(s < te and ts < e for ts, te in taken):
                continue
            taken.append((s, e))
        out = []
        for s, e in sorted(taken):
            start, end = src[s], src[e - 1] + 1
            surface = text[start:end]
            if self.require_capital and not any(c.isupper() or c.isdigit() for c in surface):
                continue
            out.append(Mention(start, end, surface, self.label, 1.0))
        return out


class UnionDetector:
    """Bi-encoder mentions plus dictionary mentions that do not overlap them.

    Dictionary-only spans are encoded by the bi-encoder (``encode_spans``) so they get
    a span vector and a predicted label like any other mention.

    The KB is opened after the detector (it must match the detector's model), so
    it is attached afterwards with :meth:`attach_kb`, or given directly.

    Args:
        detector: The bi-encoder detector (primary).
        kb: The opened knowledge base for the alias detector (or attach it later).
        min_chars: See :class:`AliasMentionDetector`.
        require_capital: See :class:`AliasMentionDetector`.
        min_alias_score: Drop dictionary mentions whose best bi-encoder label scores below this.
        min_words: Dictionary mentions need at least this many words, each capitalised or a
            name connector ("Associated Press", "Bank of America"): one-word matches are mostly
            ordinary capitalised words ("May", "Bill") the bi-encoder rightly left out.
    """

    def __init__(self, detector, kb: KnowledgeBase | None = None, min_chars: int = 3, require_capital: bool = True,
                 min_alias_score: float = 0.0, min_words: int = 1) -> None:
        self.detector = detector
        self.min_words = int(min_words)
        self.min_chars = int(min_chars)
        self.require_capital = require_capital
        self.min_alias_score = float(min_alias_score)
        self.alias: AliasMentionDetector | None = None
        if kb is not None:
            self.attach_kb(kb)

    def attach_kb(self, kb: KnowledgeBase) -> None:
        """Build the alias dictionary from ``kb``."""
        self.alias = AliasMentionDetector(kb, min_chars=self.min_chars, require_capital=self.require_capital)

    @property
    def fingerprint(self) -> str:
        """The bi-encoder's fingerprint (the KB must match it)."""
        return self.detector.fingerprint

    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Union of both detectors per text, sorted by position."""
        if self.alias is None:
            raise RuntimeError("UnionDetector has no KB: call attach_kb(kb) first")
        primary = self.detector.detect(texts, labels)
        extra = self.alias.detect(texts)
        spans = [[(m.start, m.end) for m in ex if self._title_words(m.text)
                  and not any(m.start < p.end and p.start < m.end for p in pr)]
                 for pr, ex in zip(primary, extra)]
        encoded = self.detector.encode_spans(texts, spans, labels) if any(spans) else [[] for _ in texts]
        out = []
        for pr, enc in zip(primary, encoded):
            keep = [m for m in enc if m.vector is not None and m.score >= self.min_alias_score]
            out.append(sorted(pr + keep, key=lambda m: (m.start, m.end)))
        return out

    def _title_words(self, text: str) -> bool:
        if self.min_words <= 1:
            return True
        words = text.split()
        return len(words) >= self.min_words and all(
            w[:1].isupper() or w[:1].isdigit() or w in NAME_CONNECTORS for w in words)

    def encode_spans(self, texts, spans, labels=None):
        """Delegates to the bi-encoder (ED evaluation)."""
        return self.detector.encode_spans(texts, spans, labels)
