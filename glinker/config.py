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
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from glinker.errors import InputError

if TYPE_CHECKING:
    from glinker.pipeline import Pipeline

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


def build_pipeline(cfg: DictConfig | Mapping[str, Any]) -> Pipeline:
    """Pipeline from a composed ``link`` config (detector, KB, retriever, reranker, span rules).

    ``cfg`` is the config ``glinker.link`` composes, as a ``DictConfig`` or a plain dict.
    """
    from glinker.coref import PronounResolver
    from glinker.demo import ensure_demo_kb
    from glinker.kb import KnowledgeBase
    from glinker.pipeline import Pipeline

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
    coref = None
    if cfg.get("coref", True):
        coref = PronounResolver(kb)
    return Pipeline(detector, retriever, reranker, kb, labels=labels, batch_size=cfg.batch_size,
                    max_candidates=cfg.candidates, coref=coref, join_comma_names=cfg.get("join_comma_names", True),
                    abbreviation_dots=cfg.get("abbreviation_dots", True),
                    article_names=cfg.get("article_names", True),
                    place_qualifiers=cfg.get("place_qualifiers", True),
                    name_extension=cfg.get("name_extension", True))



class PipelineFactory:
    """A picklable recipe for a pipeline: the plain ``link`` config; calling it builds the pipeline.

    Worker processes (Ray actors) receive this instead of a ``DictConfig``.
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = dict(cfg)

    def __call__(self) -> Pipeline:
        return build_pipeline(self.cfg)
