"""The demo KB: a small dump written by this project, built on first use with the real ``kb_build``."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from glinker.errors import KBError
from glinker.settings import cache_dir

logger = logging.getLogger(__name__)

DEMO_DUMP = Path(__file__).resolve().parent / "resources" / "demo" / "demo-dump.json"
# Raised when what kb_build makes of the demo dump changes, so cached demo KBs are rebuilt
# (2: popularity from the number of names for entities without sitelinks). A change of the dump itself
# rebuilds them too: the cache folder carries the dump's digest.
DEMO_VERSION = 2


def ensure_demo_kb(detector) -> Path:
    """Path of the demo KB for this detector's model, building it once if absent."""
    from glinker.kb.manifest import MANIFEST_FILE
    from kb_build.build import build_kb

    if not DEMO_DUMP.is_file():
        raise KBError(f"demo dump missing at {DEMO_DUMP}: reinstall glinker or pass kb_dir=")
    encoder = getattr(detector, "detector", detector)  # a union detector embeds with its bi-encoder
    digest = hashlib.sha256(DEMO_DUMP.read_bytes()).hexdigest()[:12]
    target = cache_dir() / "kb" / f"demo-v{DEMO_VERSION}-{digest}-{encoder.fingerprint}"
    if (target / MANIFEST_FILE).is_file():
        return target
    logger.info("building the demo KB at %s (first use)", target)
    try:
        build_kb(DEMO_DUMP, target, encoder, progress=False)
    except KBError:
        if (target / MANIFEST_FILE).is_file():  # another process published it meanwhile
            return target
        raise
    return target
