"""Apply changed, deleted and redirected entities to a built KB as a new version (``kb_build update``).

The KB stays what the build made (its *base*) plus one *delta* folder per version
(:mod:`glinker.kb.layers` describes its files; :mod:`glinker.kb.versions` how versions are
published and removed). An update:

1. reads the changes and extracts each entity with the build's extractor, languages, filters
   and popularity (the manifest's), so an entity is kept, dropped and described as a build
   would;
2. compares each with the KB's current record: the same stored bytes (the content hash) is
   *unchanged* and costs nothing; a record whose embedded text is unchanged keeps its row and
   vectors; any other change gets a new row, embedded with the KB's own model (refused by
   fingerprint otherwise) and template, and its old row becomes a tombstone;
3. writes the next delta in a temporary folder: the previous delta's overlay copied and
   changed, the previous delta vectors plus the new ones, FAISS indexes over them, the
   tombstones; renames it to ``delta-v<N+1>`` and then replaces the manifest (the commit point);
4. removes the files of versions no reader holds any more and, once the delta outgrows
   ``compact_share`` of the base, compacts (:mod:`kb_build.compact`).

Killed at any point before the manifest is replaced, the KB is still version N, whole; running
the same update again produces version N+1.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from glinker.errors import KBError
from glinker.kb import KnowledgeBase
from glinker.kb.index import build_index, default_factory
from glinker.kb.layers import OVERLAY_DIR, TOMBSTONES_FILE, open_overlay
from glinker.kb.manifest import (
    EMBEDDINGS_FILE,
    INDEX_FILE,
    NAME_INDEX_FILE,
    SENTENCE_EMBEDDINGS_FILE,
    read_manifest,
    write_manifest,
)
from glinker.kb.store import alias_keys, alias_value, close_shared, decode_record, encode_record, qid_of_alias_value
from glinker.kb.versions import (
    DELTA_PREFIX,
    WriterLock,
    kb_version,
    kill_point,
    partial_dir,
    publish_dir,
    remove_unused,
)
from glinker.types import EntityRecord
from kb_build.build import entity_text
from kb_build.changes import Bad, Deletion, EntityChange, Redirect, read_changes, read_deletions
from kb_build.extract import Extractor, FilterConfig, MalformedEntity

logger = logging.getLogger(__name__)

SUMMARY_KEYS = ("added", "updated", "deleted", "redirected", "unchanged", "malformed", "filtered", "not_found")
EMBED_CHUNK = 2000  # texts per encoder call, as the build embeds one extraction batch per call
_REMOVE = "remove"


def check_model(kb_dir: Path, manifest: dict[str, Any], encoder: Any) -> None:
    """Refuse an encoder whose fingerprint is not the one the KB was embedded with."""
    model = manifest.get("model", {})
    if model.get("fingerprint") != encoder.fingerprint:
        raise KBError(f"KB {kb_dir} was embedded with model '{model.get('name')}' (fingerprint "
                      f"{model.get('fingerprint')}), not with '{encoder.name}' ({encoder.fingerprint}): new vectors "
                      f"would not match the old ones. Pass model=<the KB's model> or rebuild the KB")


def load_extractor(manifest: dict[str, Any], popularity: str | None) -> Extractor:
    """The build's extractor for this KB: its languages and filters, and a popularity source.

    ``popularity``: a ``qid<TAB>score`` table, ``"sitelinks"``, or ``None`` for what the build used
    (its table, read again from the recorded path, or sitelinks).
    """
    from kb_build.popularity import load_popularity

    table = None
    recorded = (manifest.get("popularity") or {}).get("path")
    if popularity == "sitelinks":
        if recorded:
            logger.warning("the KB was built with popularity table %s; sitelink counts give other scales", recorded)
    elif popularity:
        table = load_popularity(popularity)
    elif recorded:
        if not Path(recorded).is_file():
            raise KBError(f"the KB was built with popularity table {recorded}, which is gone: pass popularity=TSV "
                          f"(the same table or a newer one) or popularity=sitelinks")
        table = load_popularity(recorded)
    filters = FilterConfig(**manifest.get("filters", {}))
    return Extractor(languages=tuple(manifest.get("languages", ["en"])), filters=filters, popularity=table)


class _Plan:
    """The final action per QID (the last change of a QID wins) and the counts of what was read."""

    def __init__(self) -> None:
        self.actions: dict[str, tuple[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    def set(self, qid: str, action: tuple[str, Any]) -> None:
        self.actions.pop(qid, None)
        self.actions[qid] = action

    def bad(self, where: str, reason: str) -> None:
        self.counts["malformed"] += 1
        if len(self.errors) < 5:
            self.errors.append(f"{where}: {reason}")
            logger.warning("%s: malformed record skipped: %s", where, reason)


def _read_plan(extractor: Extractor, changes: str | None, deletions: str | None, progress: bool) -> _Plan:
    plan = _Plan()
    bar = tqdm(desc="reading changes", unit=" rec", disable=not progress, mininterval=1.0)
    items = []
    if changes:
        items.append(read_changes(changes))
    if deletions:
        items.append(read_deletions(deletions))
    for source in items:
        for item in source:
            bar.update(1)
            if isinstance(item, Bad):
                plan.bad(item.where, item.reason)
            elif isinstance(item, Deletion):
                plan.set(item.qid, (_REMOVE, None))
            elif isinstance(item, Redirect):
                plan.set(item.source, ("redirect", item.target))
            elif isinstance(item, EntityChange):
                try:
                    out = extractor.extract(item.line)
                except MalformedEntity as exc:
                    plan.bad(item.where, str(exc))
                    continue
                if isinstance(out, str):  # dropped by the build's filters: it leaves the KB if it was in it
                    plan.counts[f"filtered.{out}"] += 1
                    plan.set(item.qid, ("filtered", out))
                else:
                    plan.set(out.qid, ("put", out))
    bar.close()
    return plan


def update_kb(
    kb_dir: str | os.PathLike[str],
    encoder: Any,
    *,
    changes: str | None = None,
    deletions: str | None = None,
    popularity: str | None = None,
    embed_batch_size: int = 64,
    compact_share: float | None = 0.1,
    progress: bool = True,
) -> dict[str, Any]:
    """Apply a changes file and/or a deletions file to the KB at ``kb_dir``; returns a summary.

    Args:
        kb_dir: A KB built by ``kb_build``.
        encoder: The KB's model (``encode_texts_pooled``, ``fingerprint``; a ``BiEncoderDetector``).
        changes: Entities to insert or replace, and redirects (:mod:`kb_build.changes`).
        deletions: QIDs to delete, one a line.
        popularity: ``qid<TAB>score`` table, ``"sitelinks"``, or ``None``: what the build used.
        embed_batch_size: Texts per forward pass.
        compact_share: Compact once the delta holds more rows than this share of the base (``None``: never).
        progress: Show progress bars.

    Returns:
        ``counts`` (:data:`SUMMARY_KEYS`, ``filtered`` per reason), ``version`` before/after,
        ``compacted``, ``seconds``, ``first_errors``.

    Raises:
        KBError: No KB, another model, a running update, or a missing popularity table.
        DumpError: A changes or deletions file that cannot be read at all.
    """
    started = time.time()
    kb_dir = Path(kb_dir)
    if not changes and not deletions:
        raise KBError("nothing to apply: give changes=FILE (entities, redirects) and/or deletions=FILE (QIDs)")
    with WriterLock(kb_dir):
        manifest = read_manifest(kb_dir)
        check_model(kb_dir, manifest, encoder)
        extractor = load_extractor(manifest, popularity)
        plan = _read_plan(extractor, changes, deletions, progress)
        kb = KnowledgeBase.open(kb_dir)
        try:
            work = _classify(kb, plan)
            new_manifest = manifest
            if work["changed"]:
                new_manifest = _write_version(kb, manifest, work, encoder, embed_batch_size, progress)
                kill_point("published")
        finally:
            kb.close()
        remove_unused(kb_dir, new_manifest)
        compacted = False
        delta = new_manifest.get("delta") or {}
        if compact_share is not None and delta and delta["rows"] + delta["tombstones"] > compact_share * max(
                1, delta["base_rows"]):
            from kb_build.compact import compact_locked

            new_manifest = compact_locked(kb_dir, progress=progress)
            compacted = True
    counts = {k: plan.counts[k] for k in SUMMARY_KEYS if k != "filtered"}
    counts["filtered"] = {k.split(".", 1)[1]: v for k, v in sorted(plan.counts.items()) if k.startswith("filtered.")}
    return {"kb": str(kb_dir), "version": {"from": kb_version(manifest), "to": kb_version(new_manifest)},
            "counts": counts, "compacted": compacted, "seconds": round(time.time() - started, 2),
            "first_errors": plan.errors}


def _classify(kb: KnowledgeBase, plan: _Plan) -> dict[str, Any]:
    """Compare each planned action with the KB's current state; what the next version must write."""
    store = kb.store
    counts = plan.counts
    puts: dict[str, EntityRecord] = {}  # qid -> new record (row -1: needs a new row)
    removed: dict[str, str | None] = {}  # qid -> redirect target or None
    tombstones: list[int] = []
    old_records: dict[str, EntityRecord] = {}
    redirect_of = getattr(store, "redirect_target", lambda q: None)
    for qid, (kind, arg) in plan.actions.items():
        raw = store.get_raw(qid)
        old = decode_record(qid, raw) if raw else None
        had_redirect = redirect_of(qid)
        if kind == "put":
            rec: EntityRecord = arg
            if old is not None and encode_record(dataclasses.replace(rec, row=old.row)) == raw:
                counts["unchanged"] += 1
                continue
            counts["updated" if old is not None else "added"] += 1
            keep_row = old is not None and entity_text(old, kb.manifest["template"]) == entity_text(
                rec, kb.manifest["template"])
            if old is not None and not keep_row:
                tombstones.append(old.row)
            puts[qid] = dataclasses.replace(rec, row=old.row if keep_row else -1)
        elif kind == "redirect":
            if had_redirect == arg and old is None:
                counts["unchanged"] += 1
                continue
            counts["redirected"] += 1
            removed[qid] = arg
            if old is not None:
                tombstones.append(old.row)
        else:  # deleted, or dropped by a filter
            if old is None and had_redirect is None:
                if kind == _REMOVE:
                    counts["not_found"] += 1
                continue
            if kind == _REMOVE:
                counts["deleted"] += 1
            removed[qid] = None
            if old is not None:
                tombstones.append(old.row)
        if old is not None:
            old_records[qid] = old
    return {"puts": puts, "removed": removed, "tombstones": tombstones, "old": old_records,
            "changed": bool(puts or removed)}


def _embed(encoder: Any, texts: list[str], precision: str, batch_size: int, progress: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    dim = encoder.dim
    vecs = np.zeros((len(texts), dim), np.float16)
    sents = np.zeros((len(texts), dim), np.float16)
    with tqdm(total=len(texts), desc="embedding", unit=" ent", disable=not progress or not texts,
              mininterval=1.0) as bar:
        for s in range(0, len(texts), EMBED_CHUNK):
            part = texts[s : s + EMBED_CHUNK]
            v, p = encoder.encode_texts_pooled(part, batch_size=batch_size, precision=precision)
            vecs[s : s + len(part)] = v
            sents[s : s + len(part)] = p
            bar.update(len(part))
    return vecs, sents


def _write_version(kb: KnowledgeBase, manifest: dict[str, Any], work: dict[str, Any], encoder: Any,
                   batch_size: int, progress: bool) -> dict[str, Any]:
    """Write delta N+1 beside version N, then publish it by replacing the manifest."""
    kb_dir = kb.path
    version = kb_version(manifest) + 1
    prev = manifest.get("delta") or {}
    n_base = kb.base_rows
    prev_rows = int(prev.get("rows", 0))
    dim = encoder.dim
    puts: dict[str, EntityRecord] = work["puts"]
    fresh = [q for q, r in puts.items() if r.row < 0]
    for i, qid in enumerate(fresh):
        puts[qid] = dataclasses.replace(puts[qid], row=n_base + prev_rows + i)
    template = manifest["template"]
    vecs, sents = _embed(encoder, [entity_text(puts[q], template) for q in fresh],
                         manifest.get("embeddings", {}).get("precision", "fp32"), batch_size, progress)
    kill_point("embedded")
    final_name = f"{DELTA_PREFIX}{version}"
    tmp = partial_dir(kb_dir, final_name)
    try:
        prev_dir = kb_dir / prev["dir"] if prev else None
        if prev_dir is not None:
            vecs = np.concatenate([np.load(prev_dir / EMBEDDINGS_FILE), vecs])
            sents = np.concatenate([np.load(prev_dir / SENTENCE_EMBEDDINGS_FILE), sents])
            dead = np.load(prev_dir / TOMBSTONES_FILE)
        else:
            dead = np.zeros(0, np.int64)
        dead = np.unique(np.concatenate([dead, np.asarray(work["tombstones"], np.int64)])).astype(np.int64)
        np.save(tmp / EMBEDDINGS_FILE, vecs, allow_pickle=False)
        np.save(tmp / SENTENCE_EMBEDDINGS_FILE, sents, allow_pickle=False)
        np.save(tmp / TOMBSTONES_FILE, dead, allow_pickle=False)
        factory = default_factory(len(vecs))  # exact Flat while the delta is small
        build_index(vecs, factory, tmp / INDEX_FILE)
        build_index(sents, factory, tmp / NAME_INDEX_FILE, normalize=True)
        kill_point("indexed")
        _write_overlay(kb, prev_dir, tmp / OVERLAY_DIR, work)
        kill_point("overlay_written")
        publish_dir(tmp, kb_dir / final_name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    kill_point("delta_published")
    live = len(kb.store) + sum(1 for q in puts if q not in work["old"]) - sum(
        1 for q in work["removed"] if q in work["old"])
    new = dict(manifest)
    new["version"] = version
    new["delta"] = {"dir": final_name, "base_rows": n_base, "rows": len(vecs), "tombstones": int(len(dead)),
                    "entities": live, "index_factory": factory, "dim": dim}
    files = {k: v for k, v in manifest.get("files", {}).items() if not k.startswith(DELTA_PREFIX)}
    for name in (EMBEDDINGS_FILE, SENTENCE_EMBEDDINGS_FILE, INDEX_FILE, NAME_INDEX_FILE, f"{OVERLAY_DIR}/data.mdb"):
        files[f"{final_name}/{name}"] = (kb_dir / final_name / name).stat().st_size
    new["files"] = files
    write_manifest(kb_dir, new)
    return new


def _write_overlay(kb: KnowledgeBase, prev_dir: Path | None, out: Path, work: dict[str, Any]) -> None:
    """The previous overlay (copied) with this update's records, redirects, rows and alias lists."""
    if prev_dir is not None:
        out.mkdir()
        src, _ = open_overlay(prev_dir / OVERLAY_DIR)
        try:
            src.copy(str(out), compact=True)
        finally:
            close_shared(src)
    env, dbs = open_overlay(out, write=True)
    puts: dict[str, EntityRecord] = work["puts"]
    removed: dict[str, str | None] = work["removed"]
    old: dict[str, EntityRecord] = work["old"]
    changed = set(puts) | set(removed)
    touched: set[str] = set()
    for qid in changed:
        if qid in old:
            touched |= alias_keys(old[qid])
        if qid in puts:
            touched |= alias_keys(puts[qid])
    new_values: dict[str, list[bytes]] = {}
    for rec in puts.values():
        value = alias_value(rec.popularity, rec.qid)
        for key in alias_keys(rec):
            new_values.setdefault(key, []).append(value)
    try:
        with env.begin(write=True) as txn:
            for qid in changed:
                q = qid.encode()
                if qid in puts:
                    rec = puts[qid]
                    txn.put(q, encode_record(rec), db=dbs[b"entities"])
                    txn.delete(q, db=dbs[b"redirects"])
                    txn.put(rec.row.to_bytes(4, "big"), q, db=dbs[b"rows"])
                else:
                    txn.put(q, b"", db=dbs[b"entities"])
                    target = removed[qid]
                    if target is None:
                        txn.delete(q, db=dbs[b"redirects"])
                    else:
                        txn.put(q, target.encode(), db=dbs[b"redirects"])
                if qid in old and old[qid].row >= kb.base_rows and (
                        qid not in puts or puts[qid].row != old[qid].row):
                    txn.delete(old[qid].row.to_bytes(4, "big"), db=dbs[b"rows"])
            for key in sorted(touched):
                k = key.encode()
                values = {v for v in kb.store.alias_values(key) if qid_of_alias_value(v) not in changed}
                values.update(new_values.get(key, ()))
                txn.put(k, b"", db=dbs[b"alias_keys"])
                txn.delete(k, db=dbs[b"aliases"])
                for v in sorted(values):
                    txn.put(k, v, db=dbs[b"aliases"], dupdata=True)
        env.sync(True)
    finally:
        env.close()
