"""The demo KB ships as a dump, is built by the real kb_build on first use, and is reused afterwards."""

from __future__ import annotations

import json

import glinker
from glinker.demo import DEMO_DUMP, ensure_demo_kb


def test_demo_kb_is_built_once_and_used_by_the_python_api(tiny_model_dir):
    from glinker.detection.bi_encoder import BiEncoderDetector

    det = BiEncoderDetector(str(tiny_model_dir))
    path = ensure_demo_kb(det)
    manifest = json.loads((path / "manifest.json").read_text())
    n_lines = sum(1 for line in DEMO_DUMP.read_text().splitlines() if line.startswith("{"))
    assert manifest["counts"]["read"] == n_lines and manifest["counts"]["malformed"] == 0
    assert manifest["model"]["fingerprint"] == det.fingerprint
    mtime = (path / "manifest.json").stat().st_mtime
    assert ensure_demo_kb(det) == path and (path / "manifest.json").stat().st_mtime == mtime  # reused

    nlp = glinker.load(model=str(tiny_model_dir))
    doc = nlp.link_text("Arnold Schwarzenegger was born in Thal near Graz.")
    assert doc.id == "text" and isinstance(doc.mentions, list)
    assert nlp.kb.store.get("Q2685").label == "Arnold Schwarzenegger"
    assert nlp.kb.store.lookup_alias("Schwarzenegger")[0] == "Q2685"


def test_readme_demo_links_with_the_shipped_model():
    """The README's first command, in-process: default model + demo KB link the sample sentence."""
    from glinker.model.default import PACKAGED

    if not (PACKAGED / "gliner_config.json").exists():
        import pytest

        pytest.skip("no packaged default model")
    nlp = glinker.load()
    doc = nlp.link_text("Arnold Schwarzenegger starred in The Terminator directed by James Cameron "
                        "and later became governor of California.")
    linked = {(m.text, m.qid) for m in doc.mentions}
    assert ("Arnold Schwarzenegger", "Q2685") in linked
    assert ("James Cameron", "Q42574") in linked
    for m in doc.mentions:
        assert doc.text[m.start:m.end] == m.text
