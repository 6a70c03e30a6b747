"""The README's commands, read from README.md itself and run as a user would paste them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def first_link_command() -> str:
    """The first ``python -m glinker.link`` command in the README, cut out of its ``&&`` chain."""
    for line in README.read_text(encoding="utf-8").splitlines():
        if "python -m glinker.link" in line:
            return "python -m glinker.link" + line.split("python -m glinker.link", 1)[1]
    raise AssertionError("README.md has no python -m glinker.link command")


def test_readme_first_link_command_runs_as_printed(tmp_path):
    cmd = first_link_command()
    assert "," in cmd, "the first command should show free text with commas, as users write it"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    # the interpreter running the tests stands in for the user's `python`; the rest is the README's text
    shell = cmd.replace("python -m", f"{sys.executable} -m", 1)
    res = subprocess.run(["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, timeout=600)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    rows = [json.loads(x) for x in res.stdout.decode().splitlines()]
    assert len(rows) == 1
    text = re.search(r'text="([^"]*)"', cmd).group(1)
    assert rows[0]["text"] == text  # the whole text, commas included, reached the linker verbatim
    mentions = rows[0]["mentions"]
    assert mentions, "the README example should find mentions"
    for m in mentions:
        assert text[m["start"]:m["end"]] == m["text"]
    assert any(m["qid"] for m in mentions)


@pytest.mark.parametrize("argv, rest, text", [
    (["kb_dir=x", "text=a, b, [c]=d"], ["kb_dir=x"], "a, b, [c]=d"),
    (["text='Paris, Texas'"], [], "Paris, Texas"),  # the old quoting tip still works
    (['+text="x"', "text=y"], [], "y"),
    (["~text", "input=-"], ["~text", "input=-"], None),
    (["texts=1"], ["texts=1"], None),
])
def test_take_verbatim_text(argv, rest, text):
    from glinker.link import take_verbatim_text

    assert take_verbatim_text(argv) == (rest, text)


def test_empty_label_list_is_an_error(tiny_detector):
    from glinker.errors import InputError
    from glinker.pipeline import Pipeline

    with pytest.raises(InputError, match="labels is empty"):
        Pipeline(tiny_detector, None, None, None, labels=[])


def test_readme_python_example_runs_as_printed(capsys):
    """The README's first Python block (glinker.load, link_text, print the mentions), executed from its text."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "glinker.load(" in code
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines, "the README's Python example should print linked mentions"
    assert any(" Q" in line for line in lines)  # at least one mention linked to a QID
