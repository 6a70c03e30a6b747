"""LMDB entity store: one record per QID, an alias multimap, and FAISS row → QID.

Layout (named databases in one LMDB environment):

* ``entities``: ``qid`` → msgpack array record (:class:`EntityRecord` fields).
* ``aliases`` (dupsort): normalised alias → ``popularity key + qid``; LMDB keeps
  duplicates sorted, and the key is the inverted popularity, so a cursor yields
  every homonym, most popular first, without holding the multimap in memory.
* ``rows``: big-endian uint32 row → ``qid``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import lmdb
import msgspec

from glinker.errors import KBError
from glinker.kb.integrity import check_lmdb_extent, damaged, rebuild_advice
from glinker.kb.normalize import normalize_alias
from glinker.types import EntityRecord

_MAP_SIZE = 1 << 40  # virtual; the file grows only as data is written
_ROW = struct.Struct(">I")
_POP = struct.Struct(">d")


class _Packed(msgspec.Struct, array_like=True):
    label: str
    description: str
    aliases: list[str]
    types: list[str]
    superclasses: list[str]
    sitelinks: int
    popularity: float
    row: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Packed)


def _alias_value(popularity: float, qid: str) -> bytes:
    # Big-endian IEEE bytes of a non-negative double sort like the number; flipping
    # every bit makes LMDB's ascending duplicate order "most popular first".
    packed = _POP.pack(max(0.0, float(popularity)))
    return bytes(b ^ 0xFF for b in packed) + qid.encode()


def alias_value(popularity: float, qid: str) -> bytes:
    """The alias multimap value of an entity: inverted popularity key + QID (sorts most popular first)."""
    return _alias_value(popularity, qid)


def alias_keys(rec: EntityRecord) -> set[str]:
    """The normalised alias keys an entity is stored under (label and aliases; LMDB keys are at most 511 bytes)."""
    keys = {normalize_alias(a) for a in (rec.label, *rec.aliases)}
    return {key for key in keys if key and len(key.encode()) <= 500}


def qid_of_alias_value(value: bytes) -> str:
    """The QID of an alias multimap value."""
    return bytes(value[_POP.size:]).decode()


def encode_record(rec: EntityRecord) -> bytes:
    """The stored (msgpack) form of a record; equal records have equal bytes."""
    return _encode(rec)


def decode_record(qid: str, raw: bytes) -> EntityRecord:
    """A record from its stored form."""
    return LmdbEntityStore._decode(qid, raw)


def _encode(rec: EntityRecord) -> bytes:
    return _encoder.encode(
        _Packed(rec.label, rec.description, list(rec.aliases), list(rec.types), list(rec.superclasses),
                rec.sitelinks, rec.popularity, rec.row)
    )


class LmdbEntityWriter:
    """Writes entity records, aliases and rows; used by ``kb_build``.

    Args:
        path: LMDB directory to create.
        commit_every: Records per write transaction (bounds memory on big builds).
    """

    def __init__(self, path: str | os.PathLike[str], commit_every: int = 50_000) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=_MAP_SIZE, max_dbs=4, subdir=True, writemap=False)
        self.entities = self.env.open_db(b"entities")
        self.aliases = self.env.open_db(b"aliases", dupsort=True)
        self.rows = self.env.open_db(b"rows")
        self.commit_every = commit_every
        self._txn = self.env.begin(write=True)
        self._pending = 0
        self.alias_pairs = 0

    def add(self, rec: EntityRecord) -> None:
        """Store one record, its alias keys and (if ``rec.row >= 0``) its row."""
        txn = self._txn
        qid = rec.qid.encode()
        txn.put(qid, _encode(rec), db=self.entities)
        value = _alias_value(rec.popularity, rec.qid)
        for key in alias_keys(rec):
            txn.put(key.encode(), value, db=self.aliases, dupdata=True)
            self.alias_pairs += 1
        if rec.row >= 0:
            txn.put(_ROW.pack(rec.row), qid, db=self.rows)
        self._pending += 1
        if self._pending >= self.commit_every:
            self._txn.commit()
            self._txn = self.env.begin(write=True)
            self._pending = 0

    def close(self) -> None:
        """Commit and close."""
        self._txn.commit()
        self.env.sync(True)
        self.env.close()

    def abort(self) -> None:
        """Drop the open transaction and close (on a failed build)."""
        self._txn.abort()
        self.env.close()


# what LMDB raises on a file whose content is not (or no longer) a consistent environment
_DAMAGE = (lmdb.InvalidError, lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.VersionMismatchError,
           lmdb.NotFoundError, lmdb.BadValsizeError, lmdb.IncompatibleError)


def _store_error(data: Path, exc: lmdb.Error) -> KBError:
    if isinstance(exc, _DAMAGE):
        return damaged(data, f"LMDB: {exc}", data.parent.parent)
    return KBError(f"cannot open entity store {data}: {exc}; {rebuild_advice(data.parent.parent)}")


_SHARED: dict[str, list] = {}  # real path -> [environment, number of open stores]


def open_shared(path: str | os.PathLike[str], max_dbs: int) -> lmdb.Environment:
    """A read-only environment, shared by every store of this process that opens the same path.

    LMDB refuses to open one environment twice in a process; a KB opened twice (a reader and a
    KB update in one process, or a refreshed KB whose base did not change) shares it instead.
    """
    key = os.path.realpath(path)
    entry = _SHARED.get(key)
    if entry is None:
        env = lmdb.open(str(path), readonly=True, lock=False, max_dbs=max_dbs, subdir=True, readahead=False)
        entry = _SHARED[key] = [env, 0]
    entry[1] += 1
    return entry[0]


def close_shared(env: lmdb.Environment) -> None:
    """Release an environment from :func:`open_shared`; the last release closes it."""
    for key, entry in list(_SHARED.items()):
        if entry[0] is env:
            entry[1] -= 1
            if entry[1] <= 0:
                del _SHARED[key]
                env.close()
            return
    env.close()


class LmdbEntityStore:
    """Read-only access to a KB's entity store; safe to share across processes.

    Args:
        path: The ``entities.lmdb`` directory of a KB.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        data = Path(path) / "data.mdb"
        if not Path(path).is_dir() or not data.is_file():
            raise KBError(f"entity store not found: {data}; {rebuild_advice(Path(path).parent)}")
        try:
            self.env = open_shared(path, max_dbs=4)
        except lmdb.Error as exc:
            raise _store_error(data, exc) from None
        try:
            # before open_db: opening a database reads data pages, which SIGBUS past a truncated file's end
            check_lmdb_extent(data, self.env.info(), self.env.stat())
            self.entities = self.env.open_db(b"entities", create=False)
            self.aliases = self.env.open_db(b"aliases", create=False, dupsort=True)
            self.rows = self.env.open_db(b"rows", create=False)
        except lmdb.Error as exc:
            close_shared(self.env)  # LMDB refuses a second open of a path still open in this process
            raise _store_error(data, exc) from None
        except KBError:
            close_shared(self.env)
            raise

    def counts(self) -> tuple[int, int]:
        """Entries of the ``entities`` and ``rows`` databases (one page read each; LMDB errors: :class:`KBError`)."""
        try:
            with self.env.begin() as txn:
                return txn.stat(self.entities)["entries"], txn.stat(self.rows)["entries"]
        except lmdb.Error as exc:
            raise _store_error(Path(self.env.path()) / "data.mdb", exc) from None

    def __len__(self) -> int:
        with self.env.begin() as txn:
            return txn.stat(self.entities)["entries"]

    def get(self, qid: str) -> EntityRecord | None:
        """The record of ``qid``, or ``None``."""
        with self.env.begin() as txn:
            raw = txn.get(qid.encode(), db=self.entities)
        return None if raw is None else self._decode(qid, raw)

    def get_many(self, qids: Iterable[str]) -> dict[str, EntityRecord]:
        """Records of the given QIDs that exist (one transaction)."""
        out: dict[str, EntityRecord] = {}
        with self.env.begin() as txn:
            for qid in qids:
                if qid in out:
                    continue
                raw = txn.get(qid.encode(), db=self.entities)
                if raw is not None:
                    out[qid] = self._decode(qid, raw)
        return out

    def lookup_alias(self, text: str, limit: int | None = None) -> list[str]:
        """QIDs whose label or alias normalises like ``text``, most popular first (all homonyms)."""
        key = normalize_alias(text).encode()
        if not key or len(key) > 500:
            return []
        out: list[str] = []
        with self.env.begin() as txn:
            cur = txn.cursor(db=self.aliases)
            if cur.set_key(key):
                for value in cur.iternext_dup():
                    out.append(bytes(value[_POP.size:]).decode())
                    if limit is not None and len(out) >= limit:
                        break
        return out

    def alias_values(self, key: str) -> list[bytes]:
        """Raw multimap values (:func:`alias_value`) stored under a normalised key, in stored order."""
        with self.env.begin() as txn:
            cur = txn.cursor(db=self.aliases)
            return [bytes(v) for v in cur.iternext_dup()] if cur.set_key(key.encode()) else []

    def get_raw(self, qid: str) -> bytes | None:
        """The stored bytes of ``qid``'s record, or ``None``."""
        with self.env.begin() as txn:
            raw = txn.get(qid.encode(), db=self.entities)
        return None if raw is None else bytes(raw)

    def resolve(self, qid: str) -> str | None:
        """``qid`` if the store holds it (a KB with updates also follows redirects), else ``None``."""
        return qid if self.get_raw(qid) is not None else None

    def iter_records(self) -> Iterator[EntityRecord]:
        """Every record, in row order."""
        with self.env.begin() as txn:
            for _row, qid in txn.cursor(db=self.rows):
                raw = txn.get(bytes(qid), db=self.entities)
                if raw is not None:
                    yield self._decode(bytes(qid).decode(), raw)

    def qids_for_rows(self, rows: Sequence[int]) -> list[str | None]:
        """QID of each FAISS row (``None`` for -1 or unknown rows)."""
        out: list[str | None] = []
        with self.env.begin() as txn:
            for r in rows:
                raw = txn.get(_ROW.pack(int(r)), db=self.rows) if r >= 0 else None
                out.append(None if raw is None else bytes(raw).decode())
        return out

    def iter_aliases(self) -> Iterator[tuple[str, str]]:
        """All (normalised alias, qid) pairs, for dictionary-based mention detection."""
        with self.env.begin() as txn:
            cur = txn.cursor(db=self.aliases)
            for key, value in cur:
                yield bytes(key).decode(), bytes(value[_POP.size:]).decode()

    @staticmethod
    def _decode(qid: str, raw: bytes) -> EntityRecord:
        p = _decoder.decode(raw)
        return EntityRecord(qid, p.label, p.description, tuple(p.aliases), tuple(p.types), tuple(p.superclasses),
                            p.sitelinks, p.popularity, p.row)

    def close(self) -> None:
        """Close the environment (once every store of this process that shares it is closed)."""
        close_shared(self.env)
