"""Process-wide settings read from the environment.

``GLINKER_DATA_DIR`` points at the shared data (Wikidata slices, NER corpora,
EL benchmarks); its default is ``../shared/data`` relative to the project root.
``GLINKER_CACHE_DIR`` holds auto-built KBs and on-disk label caches.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Directory of the shared third-party data (may not exist)."""
    env = os.environ.get("GLINKER_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return (PROJECT_ROOT / ".." / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Directory for derived artefacts (the auto-built demo KB, label caches)."""
    env = os.environ.get("GLINKER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "glinker"


def resolve_data_path(path: str | Path) -> Path:
    """A path as given if it exists (or is absolute), else relative to :func:`data_dir`."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    return data_dir() / p
