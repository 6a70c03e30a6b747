"""The one library module that knows Hydra: builds stages from config nodes.

Stages are plain classes; a node names one by ``_target_`` (any importable
class, including a user's own). Shared objects (the opened ``kb``, the
``detector``) are passed to every node, nested ones included, whose
constructor has a parameter of that name and whose node does not set it.
Only configs shipped in ``glinker/conf/`` or given on the command line reach this
module: nothing read from a KB or model folder is ever instantiated.
"""

from __future__ import annotations

import inspect
from importlib import resources
from pathlib import Path
from typing import Any

from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from glinker.errors import InputError

# The configs ship inside the package (glinker/conf), so a wheel install finds them wherever it runs.
CONF_DIR = Path(str(resources.files("glinker").joinpath("conf")))


def locate(target: str) -> Any:
    """Import the class or function a ``_target_`` names; a clear error if it can't."""
    try:
        return get_class(target)
    except Exception:
        try:
            return get_method(target)
        except Exception as exc:
            raise InputError(f"_target_ {target!r} cannot be imported: {exc}") from None


def _inject(node: Any, shared: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        node = {k: _inject(v, shared) for k, v in node.items()}
        target = node.get("_target_")
        if target:
            params = inspect.signature(locate(target)).parameters
            for name, obj in shared.items():
                if name in params and name not in node:
                    node[name] = obj
        return node
    if isinstance(node, list):
        return [_inject(v, shared) for v in node]
    return node


def build_stage(node: DictConfig | dict[str, Any], **shared: Any) -> Any:
    """Instantiate a stage node, handing ``shared`` objects to constructors that take them."""
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    if not isinstance(plain, dict) or "_target_" not in plain:
        raise InputError(f"stage config needs a _target_, got {plain!r}")
    try:
        return instantiate(_inject(plain, shared), _convert_="all")
    except InputError:
        raise
    except Exception as exc:  # hydra wraps constructor errors: report the stage and the cause
        cause = exc.__cause__ or exc
        raise InputError(f"cannot build {plain['_target_']}: {cause}") from None
