"""The demo dump cut for KB update tests: a full KB, a KB without 200 of its entities, and those as changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb_build.build import build_kb

_BUILT: dict = {}
DEMO_DUMP = Path(__file__).resolve().parents[2] / "glinker" / "resources" / "demo" / "demo-dump.json"


def demo_lines() -> list[str]:
    """The demo dump's entity lines, without the array's brackets and commas."""
    return [line.rstrip(",") for line in DEMO_DUMP.read_text(encoding="utf-8").splitlines() if line.startswith("{")]


def write_dump(path: Path, lines: list[str]) -> Path:
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory, tiny_detector):
    """The full demo KB, the demo dump without every other of 200 entities, and those entities as changes."""
    if "demo" in _BUILT:  # one build for every module that imports the fixture
        return _BUILT["demo"]
    root = tmp_path_factory.mktemp("update")
    lines = demo_lines()
    held = lines[100:500:2]
    rest = [line for line in lines if line not in held]
    build_kb(write_dump(root / "full.json", lines), root / "full", tiny_detector, progress=False)
    build_kb(write_dump(root / "part.json", rest), root / "part", tiny_detector, progress=False)
    (root / "changes.jsonl").write_text("\n".join(held) + "\n", encoding="utf-8")
    _BUILT["demo"] = {"root": root, "full": root / "full", "part": root / "part",
                      "changes": root / "changes.jsonl", "held": [json.loads(h)["id"] for h in held]}
    return _BUILT["demo"]


