"""Open-time checks of a KB's files: a truncated or corrupt file is one clear :class:`KBError`, never a crash.

Every check is cheap (file sizes, headers, LMDB's meta page; no file is read in full):

* Sizes: a build records the size of each of its files in the manifest (``files``); a file of
  another size was cut short or replaced. KBs built before sizes were recorded skip this check.
* LMDB: the environment is memory-mapped, and touching a page past the end of a truncated
  ``data.mdb`` kills the process with SIGBUS ("Bus error", exit 135). LMDB's meta page records
  the last page written; the file must reach past it. This is checked from ``env.info()`` and
  ``env.stat()`` (the meta page only) before any database, hence any data page, is opened.
* FAISS: faiss raises ``RuntimeError`` on a short or foreign file; it becomes a ``KBError``.
* Vectors (``.npy``): numpy refuses a file shorter than its header says; dtype and shape are
  compared with the manifest's entity count and width.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from glinker.errors import KBError
from glinker.kb.manifest import MANIFEST_FILE


def rebuild_advice(kb_dir: str | os.PathLike[str]) -> str:
    """The command that rebuilds the KB at ``kb_dir``, from its manifest's dump path when readable."""
    dump = "DUMP"
    try:
        source = json.loads((Path(kb_dir) / MANIFEST_FILE).read_text(encoding="utf-8")).get("source") or {}
        dump = source.get("dump") or dump
    except (OSError, ValueError, AttributeError):  # a damaged manifest is reported elsewhere
        pass
    return f"rebuild the KB with: python -m kb_build dump={dump} output_dir={kb_dir} overwrite=true"


def damaged(path: str | os.PathLike[str], detail: str, kb_dir: str | os.PathLike[str] | None = None) -> KBError:
    """A one-line :class:`KBError` naming a damaged KB file, what is wrong with it and how to rebuild."""
    path = Path(path)
    kb = Path(kb_dir) if kb_dir is not None else path.parent
    detail = " ".join(str(detail).split())
    if len(detail) > 240:
        detail = detail[:240] + "..."
    return KBError(f"KB file {path} is truncated or corrupt ({detail}); {rebuild_advice(kb)}")


def faiss_detail(exc: BaseException) -> str:
    """faiss' error message without its C++ signature and source location."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^Error in .*? at \S+:\d+: ", "", text)
    # a short read ends with a stale errno's text, e.g. "489 != 1024 (Inappropriate ioctl for device)"
    text = re.sub(r"(\d+ != \d+) \([^()]*\)$", r"\1", text)
    return text or type(exc).__name__


def check_sizes(kb_dir: Path, manifest: dict[str, Any]) -> None:
    """Compare each file the manifest lists under ``files`` with its recorded size (no list: nothing to check)."""
    for name, size in (manifest.get("files") or {}).items():
        path = kb_dir / name
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            raise KBError(f"KB file {path} is missing; {rebuild_advice(kb_dir)}") from None
        except OSError as exc:
            raise KBError(f"KB file {path} cannot be read ({exc.strerror or exc}); {rebuild_advice(kb_dir)}") from None
        if actual != size:
            raise damaged(path, f"{actual} bytes, the build wrote {size}", kb_dir)


def check_lmdb_extent(data_file: Path, info: dict[str, int], stat: dict[str, int]) -> None:
    """Refuse a ``data.mdb`` that ends before the last page its meta page records (reading it would SIGBUS).

    Args:
        data_file: The environment's ``data.mdb``.
        info: ``env.info()`` (``last_pgno``).
        stat: ``env.stat()`` (``psize``, the page size).
    """
    size = data_file.stat().st_size
    needed = (int(info["last_pgno"]) + 1) * int(stat["psize"])
    if size < needed:
        raise damaged(data_file, f"LMDB: {size} bytes, its pages reach byte {needed}", data_file.parent.parent)


def open_vectors(path: Path, rows: int | None, dim: int | None, kb_dir: Path) -> np.ndarray:
    """Memory-map an ``(rows, dim)`` float16 ``.npy`` file, refusing a damaged or mismatched one.

    Args:
        path: The ``.npy`` file.
        rows: Entity count the manifest records (``None``: not checked).
        dim: Vector width the manifest records (``None``: not checked).
        kb_dir: The KB folder (for the rebuild advice).

    Raises:
        KBError: The header is unreadable, the data shorter than the header says, or the
            dtype or shape is not the manifest's.
    """
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        # numpy says "pickled data" for a file whose header is garbage: say what it means here
        detail = "not a .npy header" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise damaged(path, detail, kb_dir) from None
    if vectors.dtype != np.float16 or vectors.ndim != 2:
        raise damaged(path, f"holds {vectors.dtype} of shape {vectors.shape}, expected float16 rows", kb_dir)
    expected = (rows if rows is not None else vectors.shape[0], dim if dim is not None else vectors.shape[1])
    if vectors.shape != expected:
        raise damaged(path, f"shape {vectors.shape}, the manifest says {expected}", kb_dir)
    return vectors
