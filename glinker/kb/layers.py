"""Reading an updated KB: the base files plus one delta, seen as one store, one index, one vector table.

A delta (``delta-v<N>/``, written by ``python -m kb_build update``) holds

* ``overlay.lmdb``: an LMDB environment with the same record encoding as the base store and
  these named databases: ``entities`` (qid → record of every entity changed since the base;
  an empty value: removed), ``redirects`` (qid → target qid), ``alias_keys`` (the normalised
  aliases whose homonym list changed) and ``aliases`` (dupsort: the complete new list of each
  such key, sorted like the base's: most popular first), ``rows`` (row → qid for delta rows);
* ``embeddings.f16.npy`` / ``sentence.f16.npy``: vectors of the delta rows, which are numbered
  after the base rows (``base_rows + i``), so a record's ``row`` addresses either file;
* ``entities.faiss`` / ``names.faiss``: FAISS indexes over the delta rows (exact ``Flat`` while
  small), searched with the base's and merged by score;
* ``tombstones.npy``: rows (base or delta) of entities deleted, redirected or re-embedded since
  the base; FAISS skips them during the search (an ``IDSelector``), so every search still
  returns the best ``k`` live rows.

Why a copy-on-write delta rather than writing into the base LMDB: readers open the base store
without LMDB's lock table (``lock=False``, read-only, shared between processes), so a writer
could reuse pages they still read, and each read transaction would see the newest records
while the FAISS files are those of the version the reader opened. A delta folder per version,
never modified once published, keeps version N whole for its readers while N+1 is written; a
version's delta is a copy of the previous one plus the new changes (``lmdb`` copies it in one
pass), and ``kb_build compact`` folds it into a new base once it grows past a share of the base.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from glinker.errors import KBError
from glinker.kb.index import FaissEntityIndex
from glinker.kb.normalize import normalize_alias
from glinker.kb.store import LmdbEntityStore, close_shared, decode_record, open_shared, qid_of_alias_value
from glinker.types import EntityRecord

OVERLAY_DIR = "overlay.lmdb"
TOMBSTONES_FILE = "tombstones.npy"
OVERLAY_DBS = (b"entities", b"redirects", b"alias_keys", b"aliases", b"rows")
MAX_REDIRECT_HOPS = 8
_ROW_BYTES = 4


def open_overlay(path: Path, write: bool = False) -> tuple[lmdb.Environment, dict[bytes, Any]]:
    """Open (``write``: create) an overlay environment and its named databases."""
    try:
        if write:
            path.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(str(path), map_size=1 << 40, max_dbs=len(OVERLAY_DBS), subdir=True)
        else:
            env = open_shared(path, max_dbs=len(OVERLAY_DBS))
        dbs = {name: env.open_db(name, dupsort=name == b"aliases", create=write) for name in OVERLAY_DBS}
    except lmdb.Error as exc:
        raise KBError(f"cannot open the KB update overlay {path}: {exc}; run the update again or rebuild the KB") \
            from None
    return env, dbs


class LayeredEntityStore:
    """The entity store of an updated KB: the base :class:`LmdbEntityStore` under a delta's overlay.

    Same reading API as :class:`LmdbEntityStore`; a changed entity's overlay record hides its base
    record, a removed one reads as absent, a redirected QID reads as its target's record.

    Args:
        base: The base store.
        overlay: The delta's ``overlay.lmdb``.
        base_rows: Rows of the base (delta rows come after them).
        tombstones: Dead rows (never returned by :meth:`qids_for_rows`).
        entities: Live entity count (the manifest's).
    """

    def __init__(self, base: LmdbEntityStore, overlay: Path, base_rows: int, tombstones: np.ndarray,
                 entities: int) -> None:
        self.base = base
        self.overlay, dbs = open_overlay(overlay)
        self._entities, self._redirects = dbs[b"entities"], dbs[b"redirects"]
        self._alias_keys, self._aliases, self._rows = dbs[b"alias_keys"], dbs[b"aliases"], dbs[b"rows"]
        self.base_rows = int(base_rows)
        self._dead = frozenset(int(r) for r in tombstones)
        self._count = int(entities)

    @property
    def env(self) -> lmdb.Environment:
        """The base environment."""
        return self.base.env

    def counts(self) -> tuple[int, int]:
        """Live entities and live rows (each live entity has one row)."""
        return self._count, self._count

    def __len__(self) -> int:
        return self._count

    def _own(self, txn: lmdb.Transaction, qid: bytes) -> bytes | None:
        """Stored bytes of ``qid`` as of this version: overlay first (``b""``: removed), then base."""
        raw = txn.get(qid, db=self._entities)
        if raw is not None:
            return bytes(raw)
        with self.base.env.begin() as base_txn:
            raw = base_txn.get(qid, db=self.base.entities)
        return None if raw is None else bytes(raw)

    def resolve(self, qid: str) -> str | None:
        """The QID ``qid`` stands for after redirects, if that entity is in the KB; else ``None``."""
        with self.overlay.begin() as txn:
            return self._resolve(txn, qid)

    def _resolve(self, txn: lmdb.Transaction, qid: str) -> str | None:
        for _ in range(MAX_REDIRECT_HOPS):
            target = txn.get(qid.encode(), db=self._redirects)
            if target is None:
                return qid if self._own(txn, qid.encode()) else None
            qid = bytes(target).decode()
        return None  # a redirect cycle or a very long chain: treat as absent

    def redirect_target(self, qid: str) -> str | None:
        """The QID ``qid`` redirects to (one hop), or ``None``."""
        with self.overlay.begin() as txn:
            target = txn.get(qid.encode(), db=self._redirects)
        return None if target is None else bytes(target).decode()

    def get_raw(self, qid: str) -> bytes | None:
        """Stored bytes of ``qid``'s own record (redirects not followed), or ``None``."""
        with self.overlay.begin() as txn:
            return self._own(txn, qid.encode()) or None

    def get(self, qid: str) -> EntityRecord | None:
        """The record of ``qid`` (of its redirect target), or ``None``."""
        return self.get_many([qid]).get(qid)

    def get_many(self, qids: Iterable[str]) -> dict[str, EntityRecord]:
        """Records of the given QIDs that exist; a redirected QID maps to its target's record."""
        out: dict[str, EntityRecord] = {}
        with self.overlay.begin() as txn:
            for qid in qids:
                if qid in out:
                    continue
                target = self._resolve(txn, qid)
                if target is not None:
                    out[qid] = decode_record(target, self._own(txn, target.encode()))
        return out

    def alias_values(self, key: str) -> list[bytes]:
        """Raw multimap values under a normalised key, as of this version."""
        k = key.encode()
        with self.overlay.begin() as txn:
            if txn.get(k, db=self._alias_keys) is None:
                return self.base.alias_values(key)
            cur = txn.cursor(db=self._aliases)
            return [bytes(v) for v in cur.iternext_dup()] if cur.set_key(k) else []

    def lookup_alias(self, text: str, limit: int | None = None) -> list[str]:
        """QIDs whose label or alias normalises like ``text``, most popular first (all homonyms)."""
        key = normalize_alias(text)
        if not key or len(key.encode()) > 500:
            return []
        values = self.alias_values(key)
        return [qid_of_alias_value(v) for v in (values if limit is None else values[:limit])]

    def qids_for_rows(self, rows: Sequence[int]) -> list[str | None]:
        """QID of each row (``None`` for -1, unknown and tombstoned rows)."""
        base = [int(r) if 0 <= r < self.base_rows and int(r) not in self._dead else -1 for r in rows]
        out = self.base.qids_for_rows(base)
        with self.overlay.begin() as txn:
            for i, r in enumerate(rows):
                if r >= self.base_rows and int(r) not in self._dead:
                    raw = txn.get(int(r).to_bytes(_ROW_BYTES, "big"), db=self._rows)
                    out[i] = None if raw is None else bytes(raw).decode()
        return out

    def iter_aliases(self) -> Iterator[tuple[str, str]]:
        """All (normalised alias, qid) pairs in key order, as the base store yields them."""
        with self.overlay.begin() as txn:
            changed = {bytes(k) for k, _ in txn.cursor(db=self._alias_keys)}
            ours = [(bytes(k).decode(), qid_of_alias_value(v)) for k, v in txn.cursor(db=self._aliases)]
        kept = ((k, q) for k, q in self.base.iter_aliases() if k.encode() not in changed)
        # both streams are sorted by key bytes (LMDB order); a key lives in exactly one of them
        yield from heapq.merge(kept, ours, key=lambda kq: kq[0].encode())

    def iter_records(self) -> Iterator[EntityRecord]:
        """Every live record: the base's unchanged ones in row order, then the delta rows'."""
        with self.overlay.begin() as txn:
            for rec in self.base.iter_records():
                if txn.get(rec.qid.encode(), db=self._entities) is None:
                    yield rec
            for qid, raw in txn.cursor(db=self._entities):
                if raw:
                    yield decode_record(bytes(qid).decode(), bytes(raw))

    def close(self) -> None:
        """Close the overlay and the base environment."""
        close_shared(self.overlay)
        self.base.close()


class LayeredIndex:
    """Base FAISS index + delta index, tombstoned rows skipped, results merged by score.

    Args:
        base: The base index.
        delta: The delta's index (rows ``0..`` stand for KB rows ``base_rows..``), or ``None``.
        base_rows: Rows of the base.
        tombstones: Dead KB rows.
    """

    def __init__(self, base: FaissEntityIndex, delta: FaissEntityIndex | None, base_rows: int,
                 tombstones: np.ndarray) -> None:
        self.base, self.delta, self.base_rows = base, delta, int(base_rows)
        dead = np.asarray(tombstones, dtype=np.int64)
        in_base = dead[dead < self.base_rows]
        in_delta = dead[dead >= self.base_rows] - self.base_rows
        self._base_exclude = base.exclusion(in_base) if len(in_base) else None
        self._delta_exclude = delta.exclusion(in_delta) if delta is not None and len(in_delta) else None
        self._live = base.ntotal + (delta.ntotal if delta is not None else 0) - len(dead)

    @property
    def ntotal(self) -> int:
        """Live rows."""
        return self._live

    @property
    def dim(self) -> int:
        """Query width."""
        return self.base.dim

    def set_search_params(self, **params: Any) -> None:
        """Search effort of the base index (the delta index is exact)."""
        self.base.set_search_params(**params)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` live rows and scores per query across base and delta: (rows, scores), both (n, k)."""
        rows, scores = self.base.search(vectors, k, self._base_exclude)
        if self.delta is None or self.delta.ntotal == 0:
            return rows, scores
        d_rows, d_scores = self.delta.search(vectors, k, self._delta_exclude)
        rows = np.concatenate([rows, np.where(d_rows >= 0, d_rows + self.base_rows, -1)], axis=1)
        scores = np.concatenate([scores, d_scores], axis=1).astype(np.float32)
        scores[rows < 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, rows.shape[1])]
        return np.take_along_axis(rows, top, 1), np.take_along_axis(scores, top, 1)


class StackedRows:
    """Read-only ``(base_rows + delta_rows, D)`` view of base and delta vector files, indexed by KB row."""

    def __init__(self, base: np.ndarray, delta: np.ndarray) -> None:
        self.base, self.delta = base, delta
        self.shape = (len(base) + len(delta), base.shape[1])
        self.dtype = base.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.shape[0]))
        idx = np.asarray(rows, dtype=np.int64)
        if idx.ndim == 0:
            return self[idx.reshape(1)][0]
        n = len(self.base)
        out = np.empty((len(idx), self.shape[1]), dtype=self.dtype)
        in_base = idx < n
        if in_base.any():
            out[in_base] = self.base[idx[in_base]]
        if (~in_base).any():
            out[~in_base] = self.delta[idx[~in_base] - n]
        return out
