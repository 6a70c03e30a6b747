"""SIGINT / SIGTERM / SIGKILL during real CLI runs: one line, exit 130 / 143, no traceback, no hidden temp file.

Each run is a real subprocess sent a real signal once its output (or a log line) shows that work
has begun; the link runs read a stdin that stays open, so they are still going when it arrives.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from conftest import make_entity, write_dump

ROOT = Path(__file__).resolve().parent.parent
BATCH = [{"id": f"d{i}", "text": f"Arnold Schwarzenegger met the Celtics in Boston, day {i}."} for i in range(16)]


def _start(*args, stdout=subprocess.PIPE) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", *map(str, args)], cwd=ROOT, stdin=subprocess.PIPE, stdout=stdout,
                            stderr=subprocess.PIPE, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    proc.watchdog = threading.Timer(240, proc.kill)  # a hung run fails the test instead of blocking the suite
    proc.watchdog.daemon = True
    proc.watchdog.start()
    return proc


def _feed_one_batch(proc: subprocess.Popen) -> None:
    """One batch of documents on stdin, which stays open: the run links them, then waits for more."""
    proc.stdin.write(b"".join(orjson.dumps(d) + b"\n" for d in BATCH))
    proc.stdin.flush()


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 200) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached {n} lines; stderr: {proc.stderr.read().decode()[-2000:]}")


def _wait_for_stderr(proc: subprocess.Popen, marker: bytes) -> None:
    """Read the run's stderr until ``marker`` (a log line or progress bar that shows work has begun)."""
    seen = b""
    while marker not in seen:
        chunk = proc.stderr.read1(4096)
        assert chunk, f"the run ended first (exit {proc.wait()}): {seen.decode()[-2000:]}"
        seen += chunk


def _finish(proc: subprocess.Popen) -> tuple[int, str, bytes]:
    out, err = proc.communicate(timeout=120)
    proc.watchdog.cancel()
    return proc.returncode, err.decode(), out


def _link_args(tiny_kb, model, *more):
    return ("glinker.link", f"kb_dir={tiny_kb}", f"detector.model={model}", "input=-", *more)


def test_sigint_on_stdout_output(tiny_kb, tiny_model_dir):
    proc = _start(*_link_args(tiny_kb, tiny_model_dir))
    _feed_one_batch(proc)
    lines = [proc.stdout.readline() for _ in BATCH]  # all linked; the run now waits on stdin
    assert [json.loads(x)["id"] for x in lines] == [d["id"] for d in BATCH], proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGINT)
    code, err, rest = _finish(proc)
    assert code == 130 and rest == b""
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    (message,) = [x for x in err.splitlines() if "interrupted" in x]
    assert f"interrupted by SIGINT: {len(BATCH)} documents written to stdout" in message


def test_sigterm_keeps_the_old_output_and_writes_partial(tiny_kb, tiny_model_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"results of an earlier run\n")
    proc = _start(*_link_args(tiny_kb, tiny_model_dir, f"output={out}"))
    _feed_one_batch(proc)
    _wait_for_lines(tmp_path / f".out.jsonl.tmp{proc.pid}", len(BATCH), proc)
    proc.send_signal(signal.SIGTERM)
    code, err, _ = _finish(proc)
    assert code == 143
    assert "Traceback" not in err
    assert f"interrupted by SIGTERM: {len(BATCH)} documents written to {out}.partial" in err
    assert out.read_bytes() == b"results of an earlier run\n"
    partial = Path(f"{out}.partial").read_text().splitlines()
    assert [json.loads(x)["id"] for x in partial] == [d["id"] for d in BATCH]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.jsonl.partial"]  # no hidden temp


def test_temp_file_of_a_killed_run_is_removed_by_the_next_run(tiny_kb, tiny_model_dir, tmp_path, caplog):
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR
    from glinker.link import run

    out = tmp_path / "out.jsonl"
    proc = _start(*_link_args(tiny_kb, tiny_model_dir, f"output={out}"))
    _feed_one_batch(proc)
    leftover = tmp_path / f".out.jsonl.tmp{proc.pid}"
    _wait_for_lines(leftover, 1, proc)
    proc.kill()  # SIGKILL: no cleanup possible
    _finish(proc)
    assert leftover.exists()
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(orjson.dumps(BATCH[0]) + b"\n")
    overrides = [f"kb_dir={tiny_kb}", f"detector.model={tiny_model_dir}", f"input={docs}", f"output={out}",
                 "progress=false"]
    with caplog.at_level(logging.INFO), initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert run(compose(config_name="link", overrides=overrides)) == 0
    assert not leftover.exists()
    assert f"removed {leftover}, left by an interrupted run (process {proc.pid})" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl", "out.jsonl"]


def test_temp_file_of_a_live_run_is_reported_not_removed(tmp_path, caplog):
    from glinker.io import JsonlWriter

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = tmp_path / f".out.jsonl.tmp{other.pid}"
        busy.write_bytes(b"{}\n")
        with caplog.at_level(logging.WARNING):
            JsonlWriter(tmp_path / "out.jsonl").close()
        assert busy.exists()
        assert f"a run with process id {other.pid} is writing output=" in caplog.text
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow  # another CLI with the handling glinker.link tests above; ~20 s a run
def test_evaluate_el_sigterm(tiny_kb, tiny_model_dir, tmp_path):
    def bench(name, n):
        path = tmp_path / f"{name}.benchmark.jsonl"
        path.write_text("".join(json.dumps({"id": i, "text": "Arnold Schwarzenegger lived in Boston.",
                                            "labels": [{"span": [0, 21], "entity_id": "Q2685"},
                                                       {"span": [31, 37], "entity_id": "Q100"}]}) + "\n"
                                for i in range(n)))
        return path

    small, large = bench("small", 2), bench("large", 5000)
    errors = tmp_path / "errors.jsonl"
    proc = _start("glinker.evaluate", "el", f"kb_dir={tiny_kb}", f"detector.model={tiny_model_dir}",
                  f"benchmark=[{small},{large}]", f"errors={errors}")
    _wait_for_stderr(proc, b"small.benchmark.jsonl [ed]")  # the first one's score line: the second is being scored
    proc.send_signal(signal.SIGTERM)
    code, err, out = _finish(proc)
    assert code == 143
    assert "interrupted by SIGTERM: evaluation stopped, no scores printed" in err and "Traceback" not in err
    assert out == b"" and not errors.exists()


@pytest.mark.slow  # another CLI with the handling glinker.link tests above; ~20 s a run
def test_evaluate_ner_sigint(tiny_model_dir, tmp_path):
    data = tmp_path / "test.txt"
    data.write_text("Peter\tB-PER\nBlackburn\tI-PER\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n\n" * 20000, encoding="utf-8")
    proc = _start("glinker.evaluate", "ner", f"data={data}", f"model={tiny_model_dir}", "progress=true")
    _wait_for_stderr(proc, b"evaluate")  # tqdm's bar: scoring has begun
    proc.send_signal(signal.SIGINT)
    code, err, out = _finish(proc)
    assert code == 130
    assert "interrupted by SIGINT" in err and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert out == b""


@pytest.mark.slow  # another CLI with the handling glinker.link tests above; ~20 s a run
def test_kb_build_sigterm(tiny_model_dir, tmp_path):
    dump = write_dump(tmp_path / "dump.json", [make_entity(f"Q{10_000 + i}", f"Entity {i}", f"thing number {i}",
                                                           [f"E{i}"], ["Q5"], i % 7) for i in range(20000)])
    target = tmp_path / "kb"
    proc = _start("kb_build", f"dump={dump}", f"output_dir={target}", f"model={tiny_model_dir}", "progress=true")
    _wait_for_stderr(proc, b" ent")  # the progress bar: entities are being read
    proc.send_signal(signal.SIGTERM)
    code, err, out = _finish(proc)
    assert code == 143
    assert f"interrupted by SIGTERM: nothing was published at {target}" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.json"]  # no KB, no temporary build folder
