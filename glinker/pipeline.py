"""The linking pipeline: detect → retrieve → rerank, batched across documents.

Stages compute and return typed results; only :class:`Pipeline` writes into
:class:`~glinker.types.Document`. Build it from objects (no configuration
needed), e.g. in a notebook::

    import glinker
    nlp = glinker.load()                      # the CLI's defaults: default model + demo KB
    doc = nlp.link_text("Arnold Schwarzenegger starred in The Terminator.")
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Protocol

from glinker.errors import InputError
from glinker.kb import KnowledgeBase
from glinker.refinement import MentionRefiner, default_refiners
from glinker.rerank.ranker import Reranker
from glinker.retrieval.candidates import Retriever
from glinker.segments import BATCH_CHARS, NEIGHBOURHOOD_CHARS, WHOLE_CHARS, batches, segment_bounds
from glinker.types import Candidate, Document, LinkDecision, LinkedMention, Mention

logger = logging.getLogger(__name__)


class MentionDetector(Protocol):
    """Finds typed mentions in texts (one list per text)."""

    def detect(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Mention]]:
        """Mentions of each text (character offsets, end exclusive); ``labels`` overrides the configured ones."""
        ...


class Pipeline:
    """Mention detection, candidate retrieval and reranking over a KB.

    Args:
        detector: A :class:`MentionDetector` (e.g. :class:`glinker.detection.bi_encoder.BiEncoderDetector`).
        retriever: A :class:`~glinker.retrieval.candidates.Retriever`.
        reranker: A :class:`~glinker.rerank.ranker.Reranker`.
        kb: The knowledge base the retriever and reranker read.
        labels: Entity types for detection (``None``: the detector's default set).
        batch_size: Documents (or segments of a long document) processed together.
        max_candidates: Ranked candidates kept per mention in the output (0: none).
        coref: Resolves mentions whose link follows from a preceding linked mention: a surname or given
            name after the person's full name (:class:`glinker.resolution.names.NameResolver`), pronouns
            (:class:`glinker.resolution.coref.PronounResolver`), or both in a
            :class:`glinker.resolution.chain.ResolverChain`; ``None`` links every mention on its own.
        refiners: The span rules applied to detected mentions before retrieval, in order
            (:mod:`glinker.refinement`); ``None``: :func:`glinker.refinement.default_refiners`, the
            KB-confirmed ones; ``[]``: none.
        whole_chars: A document longer than this is linked in bounded pieces (:mod:`glinker.segments`):
            detection and context windows per paragraph, each as a document of its own, coherence
            over the mentions within ``neighbourhood_chars``, full names and pronoun antecedents within the
            resolver's look-back, ``batch_chars`` of text at a time. So a paragraph's links do not
            depend on the length of the document around it, the cost per word stays constant and
            memory holds one batch plus the output. ``None``: documents are always linked whole.
        neighbourhood_chars: In such a document, the mentions starting within this many characters
            of a mention vote in its coherence features.
        batch_chars: Characters of such a document linked per call (plus the neighbourhood on
            either side, linked along for its votes).

    Attributes:
        observer: ``None``, or a callable told of every reranker decision that reaches a document, before
            pronoun resolution: ``observer(docs, mentions, decisions)`` with, per segment written, its
            document and its mentions (document offsets), and the decisions in the same order. Segments
            linked along only for their votes are not reported. For tracing what a run decided from
            (:func:`glinker.rerank.fit_e2e.trace_e2e`).
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
        refiners: Sequence[MentionRefiner] | None = None,
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
        self.refiners = list(default_refiners(kb) if refiners is None else refiners)
        self.observer = None
        self.whole_chars = None if whole_chars is None else int(whole_chars)
        self.neighbourhood_chars = int(neighbourhood_chars)
        self.batch_chars = int(batch_chars)

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
        for rule in self.refiners:
            per_seg = [rule.refine(text, ms) for text, ms in zip(texts, per_seg)]
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
        if self.observer is not None:
            self.observer([doc for doc, _, _ in batch], per_seg, list(decisions))
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


    # --- Given spans: disambiguation only (no detection) -------------------------------------------

    def link_spans(self, docs: Sequence[Document], spans: Sequence[Sequence[tuple[int, int]]]
                   ) -> list[list[SpanLink]]:
        """Link the given character spans of each document (end exclusive) instead of detected mentions.

        The detector only encodes the spans (type label and span vector); retrieval, reranking and
        pronoun resolution decide as for detected mentions, except that NIL then only means "not in
        the KB" (the reranker's ``rerank_spans`` where it has one). Sets ``doc.mentions`` in span order
        and returns, per document and in span order, each span's :class:`SpanLink`: what evaluation
        and reranker fitting score (every ranked candidate, not only ``max_candidates``).

        Raises:
            InputError: a span is empty or does not lie within its document's text.
        """
        for doc, doc_spans in zip(docs, spans):
            for start, end in doc_spans:
                if not 0 <= start < end <= len(doc.text):
                    raise InputError(f"span [{start}, {end}) of document '{doc.id}' does not lie within its "
                                     f"{len(doc.text)} characters (start < end, end exclusive)")
        per_doc = self.detector.encode_spans([d.text for d in docs], [list(s) for s in spans], self.labels)
        flat = [m for ms in per_doc for m in ms]
        contexts = [d.text for d, ms in zip(docs, per_doc) for _ in ms]
        candidates = self.retriever.retrieve(flat, contexts) if flat else []
        rerank = getattr(self.reranker, "rerank_spans", self.reranker.rerank)
        decisions = rerank(flat, candidates, contexts) if flat else []
        if self.coref is not None:
            k = 0
            for mentions in per_doc:
                if mentions:
                    decisions[k : k + len(mentions)] = self.coref.resolve(mentions, decisions[k : k + len(mentions)])
                k += len(mentions)
        qids = {d.qid for d in decisions if d.qid}
        if self.max_candidates:
            qids |= {c.qid for d in decisions for c, _ in d.ranked[: self.max_candidates]}
        records = self.kb.store.get_many(qids)
        out: list[list[SpanLink]] = []
        k = 0
        for doc, mentions in zip(docs, per_doc):
            links = [SpanLink(m, list(candidates[k + i]), decisions[k + i]) for i, m in enumerate(mentions)]
            doc.mentions = [self._linked(s.mention, s.decision, records) for s in links]
            out.append(links)
            k += len(mentions)
        return out


@dataclass(frozen=True)
class SpanLink:
    """One given span as :meth:`Pipeline.link_spans` linked it.

    Attributes:
        mention: The span as the detector encoded it (document offsets).
        candidates: The retrieved candidates, in retrieval order.
        decision: The reranker's (or pronoun resolution's) decision: every candidate ranked, and the QID
            or ``None`` for NIL.
    """

    mention: Mention
    candidates: list[Candidate]
    decision: LinkDecision
