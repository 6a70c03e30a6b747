"""The KB manifest: what a KB holds and how it was made (``manifest.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from glinker.errors import KBError

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
LMDB_DIR = "entities.lmdb"
INDEX_FILE = "entities.faiss"
EMBEDDINGS_FILE = "embeddings.f16.npy"  # P: span-space vectors (what FAISS indexes)
SENTENCE_EMBEDDINGS_FILE = "sentence.f16.npy"  # E: label-tower sentence embeddings (context similarity)
NAME_INDEX_FILE = "names.faiss"  # FAISS over the L2-normalised E rows: mention text -> entity (name retrieval)
LMDB_DATA_FILE = f"{LMDB_DIR}/data.mdb"
KB_FILES = (LMDB_DATA_FILE, INDEX_FILE, NAME_INDEX_FILE, EMBEDDINGS_FILE, SENTENCE_EMBEDDINGS_FILE)
"""The files whose sizes a build records in the manifest (``files``), checked when the KB is opened."""


def read_manifest(kb_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a KB's manifest; raise :class:`KBError` with what to do."""
    path = Path(kb_dir)
    if not path.exists():
        raise KBError(f"KB directory not found: {path} "
                      f"(build one with: python -m kb_build dump=DUMP output_dir={path})")
    mf = path / MANIFEST_FILE
    if not mf.is_file():
        raise KBError(f"{path} is not a glinker KB: no {MANIFEST_FILE} (a build may have failed; rebuild it)")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KBError(f"{mf}: unreadable manifest ({exc}); rebuild the KB") from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise KBError(f"{mf}: format_version {version!r}, this glinker reads {FORMAT_VERSION}; rebuild the KB")
    return manifest


def file_sizes(kb_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Sizes in bytes of the :data:`KB_FILES` present in ``kb_dir`` (the manifest's ``files`` entry)."""
    path = Path(kb_dir)
    return {name: (path / name).stat().st_size for name in KB_FILES if (path / name).is_file()}


def write_manifest(kb_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically and durably (a new KB version is published by this rename)."""
    path = Path(kb_dir) / MANIFEST_FILE
    tmp = path.with_suffix(f".json.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(manifest, indent=2, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
