"""Candidate retrieval: dense (span vector → FAISS), name (mention text → FAISS over entity sentence
embeddings), alias (normalised exact match), and their union."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from glinker.kb import KnowledgeBase
from glinker.surface import other_name
from glinker.types import Candidate, Mention


class Retriever(Protocol):
    """Proposes KB candidates for each mention (one list per mention, best first)."""

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """Candidates of each mention, best first; ``contexts[i]`` is the text ``mentions[i]`` comes from."""
        ...


class DenseRetriever:
    """Top-k entities by inner product between the mention's span vector and entity vectors.

    Args:
        kb: The opened knowledge base.
        top_k: Candidates per mention.
    """

    name = "dense"

    def __init__(self, kb: KnowledgeBase, top_k: int = 16) -> None:
        self.kb = kb
        self.top_k = int(top_k)

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """Batch search over all mentions at once."""
        out: list[list[Candidate]] = [[] for _ in mentions]
        with_vec = [i for i, m in enumerate(mentions) if m.vector is not None]
        if not with_vec:
            return out
        queries = np.stack([mentions[i].vector for i in with_vec]).astype(np.float32)
        rows, scores = self.kb.index.search(queries, self.top_k)
        qids = self.kb.store.qids_for_rows(rows.reshape(-1).tolist())
        width = rows.shape[1]
        for j, i in enumerate(with_vec):
            cands = []
            for r in range(width):
                qid = qids[j * width + r]
                if qid is not None:
                    s = float(scores[j, r])
                    cands.append(Candidate(qid, s, dense_score=s, sources=(self.name,)))
            out[i] = cands
        return out


class AliasRetriever:
    """Entities whose label or alias normalises like the mention text (every homonym, most popular first).

    Args:
        kb: The opened knowledge base.
        top_k: Most candidates per mention (``None``: all homonyms).
        other_names: A mention that is no KB name is looked up under its other surface form
            (:func:`glinker.surface.other_name`): "Southborough, Massachusetts" as "Southborough",
            "U.N." as "UN".
    """

    name = "alias"

    def __init__(self, kb: KnowledgeBase, top_k: int | None = 32, other_names: bool = True) -> None:
        self.kb = kb
        self.top_k = top_k
        self.other_names = bool(other_names)

    def _lookup(self, text: str) -> list[str]:
        found = self.kb.store.lookup_alias(text, limit=self.top_k)
        if not found and self.other_names and ("," in text or "." in text):
            other = other_name(self.kb.store, text)
            if other is not None:
                found = self.kb.store.lookup_alias(other, limit=self.top_k)
        return found

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """Look up each mention; exact span·entity scores come from the KB's fp16 embeddings."""
        found = [self._lookup(m.text) for m in mentions]
        records = self.kb.store.get_many(q for qs in found for q in qs)
        out: list[list[Candidate]] = []
        for m, qids in zip(mentions, found):
            qids = [q for q in qids if q in records]
            dense = entity_dense_scores(self.kb, m, [records[q].row for q in qids])
            out.append([
                # retrieval order is popularity order (the store's), whatever the dense score says
                Candidate(q, -float(k), dense_score=None if dense is None else dense[k],
                          alias_match=True, sources=(self.name,))
                for k, q in enumerate(qids)
            ])
        return out



def entity_dense_scores(kb: KnowledgeBase, mention: Mention, rows: Sequence[int]) -> list[float] | None:
    """Span·entity inner products for the entities at FAISS ``rows`` (``None`` when any is unknown)."""
    if mention.vector is None or not rows or any(r < 0 for r in rows):
        return None
    vecs = kb.entity_vectors(np.asarray(rows))
    if vecs is None:
        return None
    return (vecs @ mention.vector.astype(np.float32)).tolist()


_NAME_MEMOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class NameEncoder:
    """Unit-length sentence embeddings of mention strings from the detector's label tower, memoised.

    The KB's sentence vectors (``"{label}: {description}"`` through the same tower) live in
    the same space, so mention text · entity vector is a fuzzy name match that also knows
    "Dutch" ~ Netherlands and "Yeltsin" ~ Boris Yeltsin.
    """

    def __init__(self, detector, cache_size: int = 100_000) -> None:
        self.detector = getattr(detector, "detector", detector)  # a union detector's bi-encoder
        if self.detector is None or not hasattr(self.detector, "encode_texts_pooled"):
            raise ValueError("name retrieval needs the bi-encoder detector (its label tower encodes mention text)")
        self.cache_size = int(cache_size)
        # one memo per detector, shared by every encoder over it: the name retriever and the
        # reranker's name feature ask for the same mention strings in the same batch
        self._cache: dict[str, np.ndarray] = _NAME_MEMOS.setdefault(self.detector, {})

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, D) float32 unit vectors, one per text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            _, emb = self.detector.encode_texts_pooled(todo)
            emb /= np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-9)
            self._cache.update(zip(todo, emb))
        dim = self.detector.dim
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)


class NameRetriever:
    """Top-k entities by cosine between the mention text and the entity's sentence embedding.

    Recovers what exact alias lookup misses (demonyms, surnames, spelling variants); needs
    the KB's name index (``names.faiss``) and the detector's label tower.

    Args:
        kb: The opened knowledge base.
        detector: The bi-encoder detector (injected by the config builder).
        top_k: Candidates per mention.
        cache_size: Mention strings whose candidates are kept (least recently used dropped first):
            the candidates depend on the string alone, and a text repeats its names ("Clinton",
            "Germany") as do the texts of a collection.
    """

    name = "name"

    def __init__(self, kb: KnowledgeBase, detector, top_k: int = 32, cache_size: int = 20_000) -> None:
        self.kb = kb
        self.encoder = NameEncoder(detector)
        self.top_k = int(top_k)
        self.cache_size = int(cache_size)
        self.searched = 0  # strings looked up in the name index (the others came from the cache)
        self._found: OrderedDict[str, tuple[Candidate, ...]] = OrderedDict()
        self._version = getattr(kb, "version", None)

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """One batched search for the mention strings not seen recently, each string searched once."""
        version = getattr(self.kb, "version", None)
        if version != self._version:  # a refreshed KB (an update) answers differently
            self._found.clear()
            self._version = version
        texts = [m.text for m in mentions]
        todo = list(dict.fromkeys(t for t in texts if t not in self._found))
        found = {t: self._found[t] for t in dict.fromkeys(texts) if t in self._found}
        if todo:
            rows, scores = self.kb.name_index.search(self.encoder.encode(todo), self.top_k)
            qids = self.kb.store.qids_for_rows(rows.reshape(-1).tolist())
            width = rows.shape[1]
            for j, t in enumerate(todo):
                found[t] = tuple(
                    Candidate(q, float(scores[j, r]), name_score=float(scores[j, r]), sources=(self.name,))
                    for r in range(width)
                    if (q := qids[j * width + r]) is not None
                )
            self.searched += len(todo)
        for t, cands in found.items():
            self._found[t] = cands
            self._found.move_to_end(t)
        while len(self._found) > self.cache_size:
            self._found.popitem(last=False)
        return [list(found[t]) for t in texts]


class UnionRetriever:
    """Union of several retrievers' candidates, merged per QID, ordered by dense score when known.

    Args:
        retrievers: The retrievers to combine (e.g. dense and alias).
    """

    name = "union"

    def __init__(self, retrievers: Sequence[Retriever]) -> None:
        if not retrievers:
            raise ValueError("UnionRetriever needs at least one retriever")
        self.retrievers = list(retrievers)

    def retrieve(self, mentions: Sequence[Mention], contexts: Sequence[str]) -> list[list[Candidate]]:
        """Merge: alias flags OR-ed, sources joined, the known dense score kept."""
        parts = [r.retrieve(mentions, contexts) for r in self.retrievers]
        out: list[list[Candidate]] = []
        for i in range(len(mentions)):
            merged: dict[str, Candidate] = {}
            for part in parts:
                for c in part[i]:
                    old = merged.get(c.qid)
                    if old is None:
                        merged[c.qid] = c
                        continue
                    dense = old.dense_score if old.dense_score is not None else c.dense_score
                    merged[c.qid] = Candidate(
                        c.qid,
                        dense if dense is not None else max(old.score, c.score),
                        dense_score=dense,
                        alias_match=old.alias_match or c.alias_match,
                        sources=tuple(dict.fromkeys(old.sources + c.sources)),
                        name_score=old.name_score if old.name_score is not None else c.name_score,
                    )
            cands = list(merged.values())
            if all(c.dense_score is not None for c in cands):
                cands.sort(key=lambda c: -c.dense_score)  # type: ignore[operator]
            out.append(cands)
        return out
