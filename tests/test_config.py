"""Every shipped config composes, and every ``_target_`` binds to its class's signature (torchtune-style)."""

from __future__ import annotations

import inspect

import pytest
import yaml
from hydra import compose, initialize_config_dir

from glinker.config import CONF_DIR, build_stage, locate
from glinker.errors import InputError

SHARED = {"kb", "detector"}  # injected by build_stage, never in YAML


def _targets(node, where):
    if isinstance(node, dict):
        if "_target_" in node:
            yield where, node
        for k, v in node.items():
            yield from _targets(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _targets(v, f"{where}[{i}]")


ALL_YAML = sorted(p for p in CONF_DIR.rglob("*.yaml") if "hydra" not in p.parts)


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(CONF_DIR)))
def test_every_target_binds_to_its_signature(path):
    data = yaml.safe_load(path.read_text()) or {}
    for where, node in _targets(data, path.name):
        obj = locate(node["_target_"])
        kwargs = {k: v for k, v in node.items() if not k.startswith("_")}
        sig = inspect.signature(obj)
        sig.bind_partial(**kwargs)  # raises TypeError on unknown or misspelt keys
        required = {n for n, p in sig.parameters.items() if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD}
        missing = required - set(kwargs) - SHARED
        assert not missing, f"{where}: required arguments {missing} are neither in the YAML nor injected"


@pytest.mark.parametrize("overrides", [
    [],
    ["retriever=dense", "reranker=none"],
    ["retriever=alias"],
    ["experiment=alias_popularity_baseline"],
    ["experiment=dense_baseline"],
    ["kb=arnold"],
])
def test_link_config_composes(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=overrides)
    assert cfg.detector._target_ and cfg.retriever._target_ and cfg.reranker._target_
    if "experiment=alias_popularity_baseline" in overrides:
        assert cfg.retriever._target_.endswith("AliasRetriever") and cfg.reranker._target_.endswith("NoReranker")


def test_conventions_are_an_opt_in_profile():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        plain = compose(config_name="link")
        bench = compose(config_name="link", overrides=["conventions=benchmarks"])
    rules = [n._target_.rsplit(".", 1)[1] for n in plain.refiners]
    assert rules == ["NameExtension", "CommaNames", "AbbreviationDots", "ArticleNames"]
    assert not plain.refiners[1].place_qualifiers
    assert [n._target_.rsplit(".", 1)[1] for n in bench.refiners] == rules
    assert bench.refiners[1].place_qualifiers and bench.coref
    # short names and pronouns given as spans are language, not a benchmark convention
    assert plain.name_coref and bench.name_coref and plain.coref and bench.coref


def test_kb_build_config_composes():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="kb_build", overrides=["dump=x.json", "output_dir=y"])
    assert cfg.template == "{label}: {description}" and cfg.languages == ["en"]


class Custom:
    """A user's own stage: gets the shared kb injected because it asks for it."""

    def __init__(self, kb, factor: int = 1):
        self.kb, self.factor = kb, factor


def test_build_stage_injects_shared_objects_into_nested_nodes():
    kb = object()
    node = {"_target_": "glinker.retrieval.candidates.UnionRetriever",
            "retrievers": [{"_target_": "test_config.Custom", "factor": 3}]}
    union = build_stage(node, kb=kb, detector=None)
    assert union.retrievers[0].kb is kb and union.retrievers[0].factor == 3


def test_unknown_target_is_a_clear_error():
    with pytest.raises(InputError, match="cannot be imported"):
        build_stage({"_target_": "no.such.Module"})
    with pytest.raises(InputError, match="cannot build"):
        build_stage({"_target_": "test_config.Custom", "nonsense": 1}, kb=None)


def test_reranker_models_and_threshold_are_overridable(tiny_kb, tiny_detector):
    """The README's reranker overrides compose without Hydra's '+', and each builds the reranker it names."""
    from hydra.utils import instantiate

    from glinker.kb import KnowledgeBase
    from glinker.rerank.boosters import calibration

    detector = tiny_detector
    kb = KnowledgeBase.open(tiny_kb, expect_fingerprint=detector.fingerprint)
    cases = {
        (): ("nil.txt", calibration("nil.txt", ("threshold",))["threshold"]),
        ("reranker.nil_threshold=0.7",): ("nil.txt", 0.7),
        ("reranker.model=null", "reranker.nil_model=null", "reranker.nil_threshold=0.1"): (None, 0.1),
    }
    for overrides, (nil_file, threshold) in cases.items():
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="link", overrides=list(overrides))
        reranker = instantiate(cfg.reranker, kb=kb, detector=detector)
        assert reranker.nil_threshold == threshold, overrides
        assert (reranker.nil_model.path.name if reranker.nil_model else None) == nil_file, overrides
        assert (reranker.booster is None) == ("reranker.model=null" in overrides)
