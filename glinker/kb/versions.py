"""KB versions: where a version's files live, who still reads them, and how a writer publishes one.

A KB folder holds one *base* (the files ``kb_build`` writes: LMDB store, FAISS indexes, vectors)
and, once updated, one *delta* per version (``delta-v<N>/``: the entities changed since the
base, their vectors, small FAISS indexes over them and the tombstoned rows). ``manifest.json``
names the files of the current version (``base``: a ``base-v<N>/`` folder written by
``kb_build compact``, or the KB folder itself for a freshly built KB; ``delta.dir``; ``version``).

Files of a version are written under a temporary name, fsynced, renamed to their
version-named folder and only then does the atomically replaced manifest point at them; no
file of a published version is ever modified. A writer killed at any point therefore leaves
the previous manifest and every file it names intact, and the next writer redoes its work.

Readers hold a shared ``flock`` on ``readers.lock`` of every folder they opened, for as long as
the :class:`~glinker.kb.KnowledgeBase` lives; writers delete a folder that no manifest names
only when they can take that lock exclusively, so a process reading version N keeps its files
until it refreshes or exits (the kernel drops the lock of a killed process). Writers serialise
on ``.update.lock``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from glinker.errors import KBError
from glinker.kb.manifest import (
    EMBEDDINGS_FILE,
    INDEX_FILE,
    LMDB_DIR,
    MANIFEST_FILE,
    NAME_INDEX_FILE,
    SENTENCE_EMBEDDINGS_FILE,
)

logger = logging.getLogger(__name__)

DELTA_PREFIX = "delta-v"
BASE_PREFIX = "base-v"
READERS_LOCK = "readers.lock"
WRITER_LOCK = ".update.lock"
BASE_FILES = (LMDB_DIR, INDEX_FILE, NAME_INDEX_FILE, EMBEDDINGS_FILE, SENTENCE_EMBEDDINGS_FILE)
KILL_ENV = "GLINKER_KB_KILL_AT"
"""Test hook: a writer SIGKILLs itself when it reaches the named step (crash-safety tests)."""


def kb_version(manifest: dict[str, Any]) -> int:
    """The version a manifest describes (0: as built)."""
    return int(manifest.get("version", 0))


def read_version(kb_dir: str | os.PathLike[str]) -> int | None:
    """The current version of a KB from its manifest, cheaply (``None``: unreadable)."""
    try:
        return kb_version(json.loads((Path(kb_dir) / MANIFEST_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def base_dir(kb_dir: Path, manifest: dict[str, Any]) -> Path:
    """Folder of the base files of the version a manifest describes."""
    return kb_dir / manifest["base"] if manifest.get("base") else kb_dir


def delta_dir(kb_dir: Path, manifest: dict[str, Any]) -> Path | None:
    """Folder of the delta of the version a manifest describes (``None``: no delta)."""
    delta = manifest.get("delta") or {}
    return kb_dir / delta["dir"] if delta.get("dir") else None


class ReaderLocks:
    """Shared locks on the ``readers.lock`` files of the folders an open KB version uses."""

    def __init__(self, dirs: list[Path]) -> None:
        self._files = []
        for d in dirs:
            try:
                fh = open(d / READERS_LOCK, "rb")
            except OSError:  # a KB built before versions existed has none: nothing to hold
                continue
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:  # a writer is removing this folder right now: the caller opens anew
                fh.close()
                self.release()
                raise KBError(f"{d} is being removed by a KB update; open the KB again") from None
            self._files.append(fh)

    def release(self) -> None:
        """Let writers remove the folders."""
        for fh in self._files:
            fh.close()
        self._files = []


def make_reader_lock(folder: Path) -> None:
    """Create the ``readers.lock`` of a new folder (writers call this before publishing it)."""
    (folder / READERS_LOCK).touch()


class WriterLock:
    """Exclusive lock of a KB for one update or compaction at a time."""

    def __init__(self, kb_dir: Path) -> None:
        self.path = kb_dir / WRITER_LOCK
        self._fh = None

    def __enter__(self) -> WriterLock:
        self._fh = open(self.path, "a+b")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise KBError(f"another update or compaction of {self.path.parent} is running; "
                          f"wait for it to finish, then run this one again") from None
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        self._fh.close()


def kill_point(step: str) -> None:
    """SIGKILL this process when ``GLINKER_KB_KILL_AT`` names ``step`` (crash tests); a no-op otherwise."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_tree(path: Path) -> None:
    """fsync every file under ``path`` and the folders themselves (before a rename publishes them)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def fsync_dir(path: Path) -> None:
    """fsync a folder, so a rename inside it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlocked(folder: Path) -> bool:
    """Whether no reader holds ``folder``'s lock; on True the caller may delete it."""
    lock = folder / READERS_LOCK
    if not lock.exists():
        return True
    with open(lock, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
    return True


def _pid_alive(name: str) -> bool:
    try:
        os.kill(int(name.rsplit("-", 1)[1]), 0)
    except (ValueError, IndexError):
        return True  # not one of ours: leave it
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_unused(kb_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Delete version folders the manifest no longer names and no reader holds; returns their names.

    Also removes the leftovers of writers that were killed (``*.partial-<pid>`` of dead processes)
    and, once a compaction moved the base into ``base-v<N>/``, the build's base files in the KB
    folder itself.
    """
    keep = {p.name for p in (base_dir(kb_dir, manifest), delta_dir(kb_dir, manifest)) if p is not None}
    removed = []
    for entry in sorted(kb_dir.iterdir()):
        name = entry.name
        if not entry.is_dir() or not name.startswith((DELTA_PREFIX, BASE_PREFIX)) or name in keep:
            continue
        if ".partial-" in name:
            if _pid_alive(name):
                continue
        elif not _unlocked(entry):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(name)
    if manifest.get("base") and any((kb_dir / f).exists() for f in BASE_FILES) and _unlocked(kb_dir):
        for f in BASE_FILES:
            target = kb_dir / f
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        removed.append("(built base files)")
    if removed:
        logger.info("removed unused KB files: %s", ", ".join(removed))
    return removed


def partial_dir(kb_dir: Path, final_name: str) -> Path:
    """A fresh temporary folder for a version folder being written by this process."""
    tmp = kb_dir / f"{final_name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def publish_dir(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it to ``final`` (an unpublished leftover of a killed writer is replaced)."""
    make_reader_lock(tmp)
    fsync_tree(tmp)
    if final.exists():  # written by a writer killed before its manifest: no manifest names it
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(final.parent)
