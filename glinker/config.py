"""The one library module that knows Hydra: builds stages from config nodes.

Stages are plain classes; a node names one by ``_target_`` (any importable
class, including a user's own). Shared objects (the opened ``kb``, the
``detector``) are passed to every node, nested ones included, whose
constructor has a parameter of that name and whose node does not set it.
Only configs shipped in ``glinker/conf/`` or given on the command line reach this
module: nothing read from a KB or model folder is ever instantiated.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from glinker.errors import InputError

if TYPE_CHECKING:
    from glinker.pipeline import Pipeline

# The configs ship inside the package (glinker/conf), so a wheel install finds them wherever it runs.
CONF_DIR = Path(str(resources.files("glinker").joinpath("conf")))


def locate(target: str) -> Any:
    """Import the class, function or classmethod a ``_target_`` names; a clear error if it can't."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError as exc:
            raise InputError(f"_target_ {target!r} cannot be imported: {exc}") from None
        return obj
    raise InputError(f"_target_ {target!r} cannot be imported: no module of that name")


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


def default_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The ``glinker.link`` config composed from the packaged ``glinker/conf`` with Hydra override strings."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: compose beside it, then restore it
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(config_name="link", overrides=list(overrides))
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(config_name="link", overrides=list(overrides))
    except Exception as exc:
        raise InputError(f"cannot compose the link config with {list(overrides)}: {exc}") from None


def build_pipeline(cfg: DictConfig | Mapping[str, Any], **pipeline_args: Any) -> Pipeline:
    """Pipeline from a composed ``link`` config (detector, KB, retriever, reranker, span rules).

    ``cfg`` is the config ``glinker.link`` composes, as a ``DictConfig`` or a plain dict;
    ``pipeline_args`` are further :class:`glinker.pipeline.Pipeline` arguments (``whole_chars``, ...).
    """
    from glinker.demo import ensure_demo_kb
    from glinker.kb import KnowledgeBase
    from glinker.pipeline import Pipeline
    from glinker.resolution import NameResolver, PronounResolver, ResolverChain

    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))

    detector = build_stage(cfg.detector)
    kb_dir = cfg.get("kb_dir") or ensure_demo_kb(detector)
    kb = KnowledgeBase.open(kb_dir, expect_fingerprint=getattr(detector, "fingerprint", None))
    if hasattr(detector, "attach_kb"):  # detectors that read the KB (e.g. alias dictionary matching)
        detector.attach_kb(kb)
    retriever = build_stage(cfg.retriever, kb=kb, detector=detector)
    reranker = build_stage(cfg.reranker, kb=kb, detector=detector)
    labels = cfg.get("labels")
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if not labels:
            raise InputError("labels=[] gives the detector nothing to look for: list at least one entity type "
                             "(labels=[person,location]) or leave labels out for the default set")
    resolvers = ([NameResolver(kb)] if cfg.get("name_coref", False) else []) + (
        [PronounResolver(kb)] if cfg.get("coref", False) else [])
    coref = None if not resolvers else resolvers[0] if len(resolvers) == 1 else ResolverChain(resolvers)
    rules = cfg.get("refiners")
    refiners = None if rules is None else [build_stage(node, kb=kb) for node in rules]
    return Pipeline(detector, retriever, reranker, kb, labels=labels, batch_size=cfg.batch_size,
                    max_candidates=cfg.candidates, coref=coref, refiners=refiners, **pipeline_args)



class PipelineFactory:
    """A picklable recipe for a pipeline: the plain ``link`` config; calling it builds the pipeline.

    Worker processes (Ray actors) receive this instead of a ``DictConfig``.
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = dict(cfg)

    def __call__(self) -> Pipeline:
        return build_pipeline(self.cfg)


# Pipeline arguments that the link config sets (argument -> config key).
_CONFIG_KEYS = {"batch_size": "batch_size", "max_candidates": "candidates"}


def load_pipeline(kb_dir: str | os.PathLike[str] | None = None, model: str | os.PathLike[str] | None = None,
                  labels: Sequence[str] | None = None, overrides: Sequence[str] = (), **kwargs: Any) -> Pipeline:
    """The ``glinker.link`` pipeline in plain Python (``glinker.load``); demo KB if no ``kb_dir``.

    The packaged configs (glinker/conf/link.yaml) composed and built by :func:`build_pipeline`: default
    model, exact alias ∪ name ∪ demonym retrieval, the learned reranker and NIL model, the KB-confirmed
    span rules. ``overrides`` are Hydra override strings as on the command line
    (``["conventions=benchmarks", "detector.threshold=0.5"]``); ``kwargs`` are further
    :class:`glinker.pipeline.Pipeline` arguments (``coref`` and ``refiners`` replace the configured ones).
    """
    import json

    args = list(overrides)
    if kb_dir is not None:
        args.append(f"kb_dir={json.dumps(str(kb_dir))}")
    if model is not None:
        args.append(f"detector.model={json.dumps(str(model))}")
    cfg = default_config(args)
    if labels is not None:
        cfg.labels = list(labels)
    rest = {}
    for key, value in kwargs.items():
        if key in _CONFIG_KEYS:  # arguments the link config sets: set them there
            cfg[_CONFIG_KEYS[key]] = value
        elif key not in ("coref", "refiners"):
            rest[key] = value
    pipeline = build_pipeline(cfg, **rest)
    if "coref" in kwargs:
        pipeline.coref = kwargs["coref"]
    if "refiners" in kwargs:
        pipeline.refiners = list(kwargs["refiners"])
    return pipeline
