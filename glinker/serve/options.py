"""The server's settings: the composed ``serve`` config (``glinker/conf/serve.yaml``), checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from glinker.errors import InputError


def compose_config(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """A config of ``glinker/conf`` composed with Hydra ``key=value`` overrides, as the CLIs compose it.

    Raises:
        InputError: an override does not parse or names an unknown key or option.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from glinker.config import CONF_DIR

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise InputError(f"{bad[0]!r} is not an option: give key=value (e.g. kb_dir=kb/arnold port=8000)")
    if GlobalHydra.instance().is_initialized():  # e.g. inside a Hydra app: compose on a fresh instance
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except Exception as exc:  # Hydra's override and composition errors: one line for the user
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"bad option: {reason}") from None


@dataclass(frozen=True)
class Limits:
    """What one request may ask; a request over a limit gets a JSON 4xx naming it."""

    max_body_bytes: int = 10_000_000
    max_text_chars: int = 1_000_000
    max_texts: int = 64
    max_labels: int = 100
    max_candidates: int = 20
    timeout_s: float = 120.0
    max_queue_docs: int = 2048


@dataclass(frozen=True)
class ServeOptions:
    """Host, port, limits and batching of ``python -m glinker.serve``."""

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    limits: Limits = Limits()
    window_ms: float = 5.0
    max_batch_docs: int = 32


def _number(node: DictConfig, key: str, where: str, low: float, whole: bool = True) -> float:
    value = node.get(key)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < low:
        raise InputError(f"{where}{key}={value!r}: expected a {'whole ' if whole else ''}number >= {low}")
    return value


def read_serve_options(cfg: DictConfig) -> ServeOptions:
    """Check the server's keys of a composed ``serve`` config.

    Raises:
        InputError: a value of the wrong kind or out of range.
    """
    limits = cfg.get("limits") or OmegaConf.create({})
    batching = cfg.get("batching") or OmegaConf.create({})
    port = _number(cfg, "port", "", 0)
    if port > 65535:
        raise InputError(f"port={port}: expected 0..65535 (0: any free port)")
    level = str(cfg.get("log_level", "info")).lower()
    if level not in ("critical", "error", "warning", "info", "debug"):
        raise InputError(f"log_level={level!r}: choose debug, info, warning, error or critical")
    checked = Limits(**{k: _number(limits, k, "limits.", 1, whole=k != "timeout_s")
                        for k in Limits.__dataclass_fields__ if k in limits})
    return ServeOptions(host=str(cfg.get("host", "127.0.0.1")), port=int(port), log_level=level, limits=checked,
                        window_ms=float(_number(batching, "window_ms", "batching.", 0, whole=False)),
                        max_batch_docs=int(_number(batching, "max_docs", "batching.", 1)))
