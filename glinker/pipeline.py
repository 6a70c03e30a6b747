"""The linking pipeline: detect → retrieve → rerank, batched across documents.

Stages compute and return typed results; only :class:`Pipeline` writes into
:class:`~glinker.types.Document`. Build it from objects (no configuration
needed), e.g. in a notebook::

    from glinker import Pipeline
    nlp = Pipeline.from_defaults()            # default model + demo KB
    doc = nlp.link_text("Arnold Schwarzenegger starred in The Terminator.")
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import islice
from typing import Protocol

from glinker.errors import InputError
from glinker.kb import KnowledgeBase
from glinker.rerank import Reranker
from glinker.retrieval import Retriever
from glinker.segments import BATCH_CHARS, NEIGHBOURHOOD_CHARS, WHOLE_CHARS, batches, segment_bounds
from glinker.surface import name_continuations, sentence_start
from glinker.types import Document, LinkDecision, LinkedMention, Mention
from glinker.wikidata_classes import COUNTRIES, FIRST_LEVEL_DIVISIONS

logger = logging.getLogger(__name__)


class MentionDetector(Protocol):
    """Finds typed mentions in texts (one list per text)."""

    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Mentions of each text (character offsets, end exclusive); ``labels`` overrides the configured ones."""
        ...


class Pipeline:
    """Mention detection, candidate retrieval and reranking over a KB.

    Args:
        detector: A :class:`MentionDetector` (e.g. :class:`glinker.detector.BiEncoderDetector`).
        retriever: A :class:`~glinker.retrieval.Retriever`.
        reranker: A :class:`~glinker.rerank.Reranker`.
        kb: The knowledge base the retriever and reranker read.
        labels: Entity types for detection (``None``: the detector's default set).
        batch_size: Documents (or segments of a long document) processed together.
        max_candidates: Ranked candidates kept per mention in the output (0: none).
        coref: Resolves pronoun mentions to a preceding linked mention
            (:class:`glinker.coref.PronounResolver`); ``None`` links them like any mention.
        join_comma_names: Two detected mentions separated only by ", " ("Madison" ", "
            "Wisconsin") become one mention when the joined text is a label or alias in the
            KB: Wikidata names many places "City, State" and benchmarks such as OKE and
            wiki-fair annotate them as one mention of the city.
        place_qualifiers: With ``join_comma_names``, also join a place and the first-level
            division written out after it ("Muscatine, Iowa", "Brantford, Ontario"), and a
            first-level division and its country ("Queensland, Australia"), when the KB does not
            spell the pair: OKE, wiki-fair and news-fair annotate them as one mention of the
            first place (msnbc annotates two, "Columbus, Ohio": docs/benchmark-history.md measures both ways);
            abbreviated ("Vail, Colo.") and all-caps dateline qualifiers never join.
        abbreviation_dots: A mention directly followed by "." takes the period in when the
            dotted form is, verbatim, a label or alias of an entity the KB finds for it
            ("Calif" -> "Calif.", "U.S" -> "U.S."; "Iraq" at a sentence end stays "Iraq").
            Benchmarks annotate abbreviations with their final period, and the detector's
            word splitting makes "." a word of its own.
        name_extension: A mention followed by capitalised words ("Cuban" + " Missile Crisis",
            "Warsaw" + " Pact") grows to the longest such run of up to four words that is, as a
            whole, a label or alias in the KB; mentions inside the grown span are absorbed. The
            detector often scores the first word of a long name higher than the name.
        article_names: A mention preceded mid-sentence by a capitalised "The" takes it in when
            "the" + the mention is a KB label or alias of an entity the KB finds for it ("Utrecht,
            The Netherlands" -> "The Netherlands"): the capital marks the article as part of the
            name. A sentence-initial "The" and a lower-case "the" ("the U.S.") stay outside.
        whole_chars: A document longer than this is linked in bounded pieces (:mod:`glinker.segments`):
            detection and context windows per paragraph, each as a document of its own, coherence
            over the mentions within ``neighbourhood_chars``, pronoun antecedents within the
            resolver's look-back, ``batch_chars`` of text at a time. So a paragraph's links do not
            depend on the length of the document around it, the cost per word stays constant and
            memory holds one batch plus the output. ``None``: documents are always linked whole.
        neighbourhood_chars: In such a document, the mentions starting within this many characters
            of a mention vote in its coherence features.
        batch_chars: Characters of such a document linked per call (plus the neighbourhood on
            either side, linked along for its votes).
    """

    def __init__(
        self,
        detector: MentionDetector,
        retriever: Retriever,
        reranker: Reranker,
        kb: KnowledgeBase,
        labels: Sequence[str] | None = None,
        batch_size: int = 16,
        max_candidates: int = 0,
        coref=None,
        join_comma_names: bool = True,
        abbreviation_dots: bool = True,
        article_names: bool = True,
        place_qualifiers: bool = True,
        name_extension: bool = True,
        whole_chars: int | None = WHOLE_CHARS,
        neighbourhood_chars: int = NEIGHBOURHOOD_CHARS,
        batch_chars: int = BATCH_CHARS,
    ) -> None:
        self.detector = detector
        self.retriever = retriever
        self.reranker = reranker
        self.kb = kb
        if labels is not None and not list(labels):
            raise InputError("labels is empty: the detector would look for nothing. List at least one entity "
                             "type (e.g. ['person', 'location']) or pass None for the default set")
        self.labels = list(labels) if labels is not None else None
        self.batch_size = max(1, int(batch_size))
        self.max_candidates = int(max_candidates)
        self.coref = coref
        self.join_comma_names = bool(join_comma_names)
        self.abbreviation_dots = bool(abbreviation_dots)
        self.article_names = bool(article_names)
        self.place_qualifiers = bool(place_qualifiers)
        self.name_extension = bool(name_extension)
        self.whole_chars = None if whole_chars is None else int(whole_chars)
        self.neighbourhood_chars = int(neighbourhood_chars)
        self.batch_chars = int(batch_chars)

    @classmethod
    def from_defaults(
        cls,
        kb_dir: str | os.PathLike[str] | None = None,
        model: str | os.PathLike[str] | None = None,
        labels: Sequence[str] | None = None,
        **kwargs,
    ) -> Pipeline:
        """The ``glinker.link`` defaults in plain Python; demo KB if no ``kb_dir``.

        Default model (threshold 0.3, span boundaries on), exact alias ∪ name ∪ demonym retrieval,
        and the learned feature reranker with its packaged LambdaMART model and NIL model — the
        measured best combination (BENCHMARKS.md, docs/benchmark-history.md).
        """
        from glinker.coref import PronounResolver
        from glinker.demo import ensure_demo_kb
        from glinker.demonyms import DemonymRetriever
        from glinker.detector import CATCH_ALL_LABELS, BiEncoderDetector
        from glinker.rerank import (
            DEFAULT_MODEL,
            DEFAULT_MODEL_BIAS,
            DEFAULT_MODEL_NIL_THRESHOLD,
            DEFAULT_MODEL_SCALE,
            DEFAULT_NIL_MODEL,
            DEFAULT_SPAN_NIL_THRESHOLD,
            FeatureReranker,
        )
        from glinker.retrieval import AliasRetriever, NameRetriever, UnionRetriever

        detector = BiEncoderDetector(model, threshold=0.3, span_boundaries=True, broad_labels=CATCH_ALL_LABELS)
        path = kb_dir if kb_dir is not None else ensure_demo_kb(detector)
        kb = KnowledgeBase.open(path, expect_fingerprint=detector.fingerprint)
        retriever = UnionRetriever([AliasRetriever(kb, top_k=32), NameRetriever(kb, detector, top_k=32),
                                    DemonymRetriever(kb, top_k=4)])
        kwargs.setdefault("coref", PronounResolver(kb))
        reranker = FeatureReranker(kb, detector=detector, model=DEFAULT_MODEL, model_scale=DEFAULT_MODEL_SCALE,
                                   model_bias=DEFAULT_MODEL_BIAS, nil_threshold=DEFAULT_MODEL_NIL_THRESHOLD,
                                   nil_model=DEFAULT_NIL_MODEL,
                                   span_nil_threshold=DEFAULT_SPAN_NIL_THRESHOLD)
        return cls(detector, retriever, reranker, kb, labels=labels, **kwargs)

    def __call__(self, docs: Iterable[Document]) -> Iterator[Document]:
        """Link documents lazily, ``batch_size`` at a time; yields them annotated, in input order."""
        it = iter(docs)
        while batch := list(islice(it, self.batch_size)):
            self.link_batch(batch)
            yield from batch

    def link_text(self, text: str, doc_id: str = "text") -> Document:
        """Link one string."""
        doc = Document(doc_id, text)
        self.link_batch([doc])
        return doc

    def link_batch(self, docs: list[Document]) -> None:
        """Annotate a batch of documents in place: one call per stage for the documents up to
        ``whole_chars`` long, and ``batch_chars`` at a time for each longer one (see ``whole_chars``)."""
        whole = [d for d in docs if self.whole_chars is None or len(d.text) <= self.whole_chars]
        for doc in docs:
            doc.mentions = []
        if whole:
            self._link_segments([(d, 0, len(d.text)) for d in whole], {})
        for doc in docs:
            if self.whole_chars is not None and len(doc.text) > self.whole_chars:
                self._link_long(doc)

    def _link_long(self, doc: Document) -> None:
        """A long document, batch by batch: each batch's segments with the neighbourhood's around them."""
        bounds = segment_bounds(doc.text, self.whole_chars)
        reach = self.neighbourhood_chars
        preceding: dict[int, list[tuple[Mention, LinkDecision]]] = {}  # coreference antecedents
        for a, i, j, b in batches(bounds, self.batch_chars, reach):
            self._link_segments([(doc, lo, hi) for lo, hi in bounds[a:b]], preceding, own=(i - a, j - a),
                                reach=reach)

    def _link_segments(self, batch: list[tuple[Document, int, int]],
                       preceding: dict[int, list[tuple[Mention, LinkDecision]]],
                       own: tuple[int, int] | None = None, reach: int | None = None) -> None:
        """Detect, retrieve and rerank in segments ``(doc, start, end)``, each as a document of its own,
        and append the linked mentions of segments ``own`` (default: all) at document offsets to their
        documents. With ``reach`` (segments of one document), coherence votes come from the mentions
        starting within ``reach`` characters, in any segment of the batch; else from the same segment."""
        texts = [doc.text[lo:hi] for doc, lo, hi in batch]
        per_seg = self.detector.detect(texts, self.labels)
        if self.name_extension:
            per_seg = [self._extend_names(text, ms) for text, ms in zip(texts, per_seg)]
        if self.join_comma_names:
            per_seg = [self._join_comma_names(text, ms) for text, ms in zip(texts, per_seg)]
        if self.abbreviation_dots:
            per_seg = [self._abbreviation_dots(text, ms) for text, ms in zip(texts, per_seg)]
        if self.article_names:
            per_seg = [self._article_names(text, ms) for text, ms in zip(texts, per_seg)]
        flat: list[Mention] = [m for ms in per_seg for m in ms]
        contexts = [texts[d] for d, ms in enumerate(per_seg) for _ in ms]
        candidates = self.retriever.retrieve(flat, contexts) if flat else []
        if not flat:
            decisions = []
        elif reach is None:
            decisions = self.reranker.rerank(flat, candidates, contexts)
        else:
            voters = self._voters(batch, per_seg, own, reach)
            decisions = self.reranker.rerank(flat, candidates, contexts, voters=voters)
        # from here on, document offsets, and only the batch's own segments
        per_seg = [[replace(m, start=m.start + lo, end=m.end + lo) for m in ms] if lo else ms
                   for (_, lo, _), ms in zip(batch, per_seg)]
        first, last = own if own is not None else (0, len(batch))
        skip = sum(len(ms) for ms in per_seg[:first])
        decisions = decisions[skip : skip + sum(len(ms) for ms in per_seg[first:last])]
        batch, per_seg = batch[first:last], per_seg[first:last]
        if self.coref is not None:
            self._resolve_pronouns(batch, per_seg, decisions, preceding)
        qids = {d.qid for d in decisions if d.qid}
        if self.max_candidates:
            qids |= {c.qid for d in decisions for c, _ in d.ranked[: self.max_candidates]}
        records = self.kb.store.get_many(qids)
        k = 0
        for (doc, _, _), mentions in zip(batch, per_seg):
            for m in mentions:
                doc.mentions.append(self._linked(m, decisions[k], records))
                k += 1

    @staticmethod
    def _voters(batch, per_seg, own, reach) -> list[Sequence[int]]:
        """Per mention of a long document's batch, the mentions starting within ``reach`` characters
        (positions in the document); the segments linked along for their votes need none of their own."""
        starts = [lo + m.start for (_, lo, _), ms in zip(batch, per_seg) for m in ms]
        order = sorted(range(len(starts)), key=starts.__getitem__)
        ordered = [starts[k] for k in order]
        first, last = own
        lo_own = sum(len(ms) for ms in per_seg[:first])
        hi_own = lo_own + sum(len(ms) for ms in per_seg[first:last])
        return [order[bisect_left(ordered, s - reach) : bisect_right(ordered, s + reach)] if lo_own <= k < hi_own
                else () for k, s in enumerate(starts)]

    def _resolve_pronouns(self, batch, per_seg, decisions, preceding) -> None:
        """Coreference per segment, in place; the antecedents a segment leaves within the resolver's
        look-back (``window_chars``) are carried to the next segment of the same document."""
        window = getattr(self.coref, "window_chars", None)
        k = 0
        for (doc, _, hi), mentions in zip(batch, per_seg):
            n = len(mentions)
            if window is None:  # a resolver without a look-back bound sees one segment at a time
                decisions[k : k + n] = self.coref.resolve(mentions, decisions[k : k + n])
            else:
                before = preceding.get(id(doc), [])
                decisions[k : k + n] = self.coref.resolve(mentions, decisions[k : k + n], before)
                kept = before + list(zip(mentions, decisions[k : k + n]))
                preceding[id(doc)] = [(m, d) for m, d in kept if hi - m.end <= window]
            k += n

    def _extend_names(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Grow mentions over following capitalised words into a KB name (see ``name_extension``)."""
        ordered = sorted(mentions, key=lambda m: (m.start, m.end))
        out: list[Mention] = []
        i = 0
        while i < len(ordered):
            m = ordered[i]
            i += 1
            for end in reversed(name_continuations(text, m.end)):
                # a later mention may be swallowed whole, never cut
                if any(n.start < end < n.end for n in ordered[i:]):
                    continue
                name = text[m.start : end]
                if self.kb.store.lookup_alias(name, limit=1):
                    # the first words name the entity: their type and span vector stand for the whole
                    m = Mention(m.start, end, name, m.label, m.score, m.vector)
                    while i < len(ordered) and ordered[i].end <= end:
                        i += 1
                    break
            out.append(m)
        return out

    def _join_comma_names(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Merge "X" ", " "Y" into one mention where "X, Y" is a KB name (see ``join_comma_names``)."""
        out: list[Mention] = []
        i = 0
        ordered = sorted(mentions, key=lambda m: (m.start, m.end))
        while i < len(ordered):
            m = ordered[i]
            if i + 1 < len(ordered):
                n = ordered[i + 1]
                if text[m.end : n.start] == ", " and (
                        self.kb.store.lookup_alias(text[m.start : n.end], limit=1)
                        or (self.place_qualifiers and self._place_qualified(m.text, n.text))):
                    # the first part names the entity ("Madison"): its type and span vector stand for the whole
                    out.append(Mention(m.start, n.end, text[m.start : n.end], m.label, max(m.score, n.score),
                                       m.vector))
                    i += 2
                    continue
            out.append(m)
            i += 1
        return out

    def _place_qualified(self, head: str, tail: str) -> bool:
        """Whether "head, tail" names the head place: a town and its state or province written out
        ("Muscatine, Iowa", "Brantford, Ontario"), or a state and its country ("Queensland, Australia")."""
        if "." in tail or tail.isupper() or not head[:1].isupper():
            return False  # "Vail, Colo.", "TUSCALOOSA, ALA.": news datelines, annotated as two places

        def classes(name: str) -> list[frozenset[str]]:
            qids = self.kb.store.lookup_alias(name, limit=4)
            records = self.kb.store.get_many(qids) if qids else {}
            return [frozenset(records[q].types) for q in qids if q in records]

        head_types, tail_types = classes(head), classes(tail)
        if not tail_types:
            return False
        head_is_division = any(t & FIRST_LEVEL_DIVISIONS for t in head_types)
        if tail_types[0] & FIRST_LEVEL_DIVISIONS:
            # "Iowa, Nebraska", "Latvia, Lithuania" are lists, not a place and its qualifier
            return not head_is_division and not any(t & COUNTRIES for t in head_types)
        return bool(tail_types[0] & COUNTRIES) and head_is_division

    def _abbreviation_dots(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Take a following "." into mentions whose dotted form the KB spells (see ``abbreviation_dots``)."""
        out = []
        for m in mentions:
            dotted = text[m.start : m.end + 1]
            if text[m.end : m.end + 1] == "." and not m.text.endswith(".") and self._kb_spells(m.text, dotted):
                m = Mention(m.start, m.end + 1, dotted, m.label, m.score, m.vector)
            out.append(m)
        return out

    def _article_names(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Take a mid-sentence "The " into mentions whose "the" form the KB spells (see ``article_names``)."""
        out = []
        for m in mentions:
            lo = m.start - 4
            if lo >= 0 and text[lo : m.start] == "The " and not sentence_start(text, lo):
                named = text[lo : m.end]
                if self._kb_spells(m.text, named, fold_case=True):
                    m = Mention(lo, m.end, named, m.label, m.score, m.vector)
            out.append(m)
        return out

    def _kb_spells(self, text: str, name: str, fold_case: bool = False) -> bool:
        """True when ``name`` is verbatim the label or an alias of an entity the alias table finds for ``text``."""
        qids = self.kb.store.lookup_alias(text, limit=8)
        records = self.kb.store.get_many(qids) if qids else {}
        if fold_case:
            low = name.lower()
            return any(low == n.lower() for r in records.values() for n in (r.label, *r.aliases))
        return any(name == r.label or name in r.aliases for r in records.values())

    def _linked(self, m: Mention, decision: LinkDecision, records: dict) -> LinkedMention:
        rec = records.get(decision.qid) if decision.qid else None
        cands = ()
        if self.max_candidates:
            cands = tuple(
                {
                    "qid": c.qid,
                    "label": records[c.qid].label if c.qid in records else None,
                    "score": round(score, 6),
                    "dense_score": None if c.dense_score is None else round(c.dense_score, 6),
                    "alias_match": c.alias_match,
                    "sources": list(c.sources),
                }
                for c, score in decision.ranked[: self.max_candidates]
            )
        return LinkedMention(
            start=m.start,
            end=m.end,
            text=m.text,
            label=m.label,
            score=m.score,
            qid=decision.qid if rec is not None else None,
            entity_label=rec.label if rec else None,
            description=rec.description if rec else None,
            link_score=decision.link_score,
            candidates=cands,
        )

