"""Faster CPU runtimes for the bi-encoder's two transformer towers.

Both towers (the text tower that feeds span scoring, and the label tower that
encodes labels, mention names and the reranker's context windows) are small BERT
encoders whose time goes into their linear layers. Two options change how a tower
runs, never its weights on disk:

* ``runtime``: ``"torch"`` (eager PyTorch) or ``"onnx"`` (ONNX Runtime on an export
  of the tower with fused attention / LayerNorm / GELU kernels; ``pip install
  "glinker-wikidata[onnx]"``). In fp32 the two agree to ~1e-5 on the hidden states.
* ``quantize``: ``None`` (fp32) or ``"int8"``: dynamic int8 quantisation of the
  linear layers (weights per output channel, activations per call), with
  ``torch.ao.quantization`` or ONNX Runtime's quantiser. Lossy.

Speed and accuracy on this project's data are in BENCHMARKS.md ("Speed and memory").
ONNX exports are built locally, never downloaded: written atomically under
``cache_dir()/onnx`` and keyed by a hash of the tower's weights, the export format
and the quantisation, so a changed model gets a fresh export.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glinker.errors import InputError, ModelError
from glinker.model.network import _Transformer

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")
QUANTIZE = (None, "int8")
TOWERS = {"text": "bert_layer", "label": "labels_encoder"}
# bump when the export recipe changes: old files are then ignored, not reused
EXPORT_VERSION = "1"
ONNX_INSTALL = 'pip install "glinker-wikidata[onnx]"  (or: pip install onnxruntime onnx)'


def check_runtime(runtime: str, quantize: str | None, what: str = "detector") -> str | None:
    """Validate a (runtime, quantize) pair; returns ``quantize`` normalised (``None`` or ``"int8"``)."""
    if runtime not in RUNTIMES:
        raise InputError(f"{what} runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if isinstance(quantize, str) and quantize.lower() in ("", "none", "null", "fp32"):
        quantize = None
    if quantize not in QUANTIZE:
        raise InputError(f"{what} quantize must be null or int8, got {quantize!r}")
    return quantize


def accelerated_model(model: nn.Module, towers: dict[str, tuple[str, str | None]],
                      cache_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    """A copy of a :class:`~glinker.model.network.SpanBiEncoder` whose towers run as asked.

    Args:
        model: The fp32 torch model; it is not modified.
        towers: ``{"text" | "label": (runtime, quantize)}``; towers not named are kept as they are.
        cache_dir: Folder of ONNX exports (default ``cache_dir()/onnx``).

    Returns ``model`` itself when every tower is torch fp32. Otherwise a copy that shares
    every parameter tensor with ``model`` (no second set of fp32 weights), except that the
    named towers are replaced by their quantised or ONNX Runtime versions.
    """
    todo = {t: (r, check_runtime(r, q, f"{t} tower")) for t, (r, q) in towers.items()}
    todo = {t: rq for t, rq in todo.items() if rq != ("torch", None)}
    if not todo:
        return model
    # deepcopy's memo maps every tensor to itself: a new module tree over the same weights
    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    out = copy.deepcopy(model, memo=memo).eval()
    holder = out.token_rep_layer
    for tower, (runtime, quantize) in todo.items():
        attr = TOWERS[tower]
        encoder = getattr(holder, attr)
        if runtime == "onnx":
            setattr(holder, attr, OnnxEncoder(onnx_export(encoder, quantize, cache_dir)))
        else:
            setattr(holder, attr, int8_encoder(encoder))
    return out


def int8_encoder(encoder: nn.Module) -> nn.Module:
    """``encoder`` with its ``nn.Linear`` layers dynamically quantised to int8 (per output channel), in place."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated (in favour of torchao) but ships it
        warnings.simplefilter("ignore")
        return quantize_dynamic(encoder, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                                inplace=True).eval()


def _require_onnxruntime():
    try:
        import onnx  # noqa: F401  (the exporter, optimizer and quantiser need it)
        import onnxruntime
    except ImportError as exc:
        raise ModelError(f"runtime=onnx needs ONNX Runtime: {ONNX_INSTALL}") from exc
    return onnxruntime


def export_key(encoder: nn.Module, quantize: str | None) -> str:
    """Cache key of an export: the tower's weights, the export recipe and the quantisation."""
    from glinker.model.checkpoint import fingerprint_state

    return f"{fingerprint_state(encoder.state_dict())}-v{EXPORT_VERSION}-{quantize or 'fp32'}"


def onnx_export(encoder: nn.Module, quantize: str | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the ONNX file of ``encoder`` (a ``_Transformer`` tower), building it once.

    The export traces the Hugging Face encoder with eager attention (ONNX Runtime's
    transformer optimizer recognises that pattern and fuses it into one Attention node),
    with dynamic batch and sequence axes, then fuses and (``quantize="int8"``) quantises.
    The file appears under its final name only when complete (``os.replace``), so a
    concurrent or interrupted build never leaves a partial export behind.
    """
    _require_onnxruntime()
    from glinker.settings import cache_dir as default_cache

    folder = Path(cache_dir) if cache_dir else default_cache() / "onnx"
    path = folder / f"encoder-{export_key(encoder, quantize)}.onnx"
    if path.exists():
        return path
    build = folder / f".build-{path.stem}-{os.getpid()}"
    build.mkdir(parents=True, exist_ok=True)
    logger.info("building the ONNX export %s (once per model)", path.name)
    try:
        os.replace(_build(encoder, quantize, build), path)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return path


def _build(encoder: nn.Module, quantize: str | None, build: Path) -> Path:
    """Export, fuse and quantise in the folder ``build``; returns the finished file."""
    from onnxruntime.transformers import optimizer

    hf = copy.deepcopy(encoder.model).eval()
    hf.set_attn_implementation("eager")  # sdpa's exported graph is not fused by the optimizer
    cfg = hf.config
    raw, fused, final = build / "raw.onnx", build / "fused.onnx", build / "final.onnx"
    # a padded example: the trace must keep the attention mask (an all-ones one may be skipped)
    ids = torch.full((2, 8), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
        torch.onnx.export(_Transformer(hf), (ids, mask), str(raw), input_names=["input_ids", "attention_mask"],
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes})
    opt = optimizer.optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                                   hidden_size=cfg.hidden_size, opt_level=0)
    opt.save_model_to_file(str(fused if quantize else final))
    if quantize == "int8":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # fused nodes are outside the ONNX domain, so shape inference cannot type their outputs
        root = logging.getLogger()
        advice = _DropAdvice()
        root.addFilter(advice)  # the quantiser advises pre-processing on the root logger (not needed here)
        try:
            quantize_dynamic(str(fused), str(final), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.removeFilter(advice)
    return final


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


class OnnxEncoder(nn.Module):
    """Drop-in for a ``_Transformer`` tower: ``(input_ids, attention_mask) -> (B, T, H)`` via ONNX Runtime.

    Uses as many intra-op threads as torch does when the session is created
    (``num_threads`` of the detector), without spin-waiting: on shared cores a
    spinning thread takes time from the other jobs and from torch's own threads.
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        super().__init__()
        ort = _require_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feeds = {"input_ids": input_ids.numpy().astype(np.int64, copy=False),
                 "attention_mask": attention_mask.numpy().astype(np.int64, copy=False)}
        return torch.from_numpy(self.session.run(None, feeds)[0])

    def __deepcopy__(self, memo: dict) -> OnnxEncoder:
        return self  # a session is immutable and cannot be copied
