"""Where ``output=`` writes: stdout, FIFOs and links to them are written directly; regular files are
replaced atomically and only on success. Progress bar gating on a real terminal (a pty)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import stat
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import orjson
import pytest

from glinker.errors import InputError
from glinker.io import JsonlWriter

ROOT = Path(__file__).resolve().parent.parent
DOCS = [{"id": f"d{i}", "text": f"Arnold Schwarzenegger met the Celtics in Boston, day {i}."} for i in range(3)]


def _link_in_process(tiny_kb, model, **keys) -> int:
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR
    from glinker.link import run

    overrides = [f"kb_dir={tiny_kb}", f"detector.model={model}", "progress=false"]
    overrides += [f"{k}={v}" for k, v in keys.items()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return run(compose(config_name="link", overrides=overrides))


def _docs_file(tmp_path) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in DOCS))
    return path


class _FifoReader(threading.Thread):
    """Reads a FIFO to its end, as a downstream process would."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.data = path, b""

    def run(self) -> None:
        with open(self.path, "rb") as fh:
            self.data = fh.read()


def test_existing_file_is_replaced_only_on_success(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"old results\n")
    out.chmod(0o640)
    w = JsonlWriter(out)
    w.write({"id": "a"})
    assert out.read_bytes() == b"old results\n"
    assert w.close(success=False) == f"{out}.partial"
    assert out.read_bytes() == b"old results\n"  # a failed run leaves the file alone
    assert Path(f"{out}.partial").read_bytes() == b'{"id":"a"}\n'
    w = JsonlWriter(out)
    w.write({"id": "b"})
    assert w.close() == str(out)
    assert out.read_bytes() == b'{"id":"b"}\n'
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # the replacement keeps the file's permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.jsonl.partial"]  # no temp left


def test_failed_run_that_wrote_nothing_leaves_nothing(tmp_path):
    w = JsonlWriter(tmp_path / "out.jsonl")
    assert w.close(success=False) is None
    assert list(tmp_path.iterdir()) == []


def test_link_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "data" / "real.jsonl"
    real.parent.mkdir()
    real.write_bytes(b"old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    w = JsonlWriter(link)
    w.write({"id": "x"})
    w.close()
    assert link.is_symlink() and real.read_bytes() == b'{"id":"x"}\n'


@pytest.mark.parametrize("through_symlink", [False, True])
def test_fifo_is_written_directly(tmp_path, through_symlink):
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    target = fifo
    if through_symlink:
        target = tmp_path / "out.jsonl"
        target.symlink_to(fifo)
    reader = _FifoReader(fifo)
    reader.start()
    w = JsonlWriter(target)
    for d in DOCS:
        w.write(d)
    w.close()
    reader.join(10)
    assert [orjson.loads(x) for x in reader.data.splitlines()] == DOCS
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a regular file
    assert target.is_symlink() == through_symlink
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({fifo.name, target.name})


def test_character_device_of_our_own_is_written_directly(tmp_path):
    # a pty slave is a character device this test owns (never the system's /dev/null)
    master, slave = pty.openpty()
    try:
        link = tmp_path / "tty.jsonl"
        link.symlink_to(os.ttyname(slave))
        w = JsonlWriter(link)
        w.write({"id": "t"})
        w.close()
        assert b'{"id":"t"}' in os.read(master, 1024)
        assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)
    finally:
        os.close(master)
        os.close(slave)


def test_folder_as_output_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        JsonlWriter(tmp_path)


def test_link_cli_writes_through_a_symlink_to_its_stdout(tmp_path, tiny_kb, tiny_model_dir):
    link = tmp_path / "stdout.jsonl"
    link.symlink_to("/proc/self/fd/1")  # the child's own stdout: a pipe to this test
    res = subprocess.run([sys.executable, "-m", "glinker.link", f"kb_dir={tiny_kb}", f"detector.model={tiny_model_dir}",
                          f"input={_docs_file(tmp_path)}", f"output={link}"],
                         cwd=ROOT, capture_output=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert [json.loads(x)["id"] for x in res.stdout.decode().splitlines()] == [d["id"] for d in DOCS]
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl", "stdout.jsonl"]


def test_link_run_to_a_fifo_and_to_a_regular_file(tmp_path, tiny_kb, tiny_model_dir):
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    reader = _FifoReader(fifo)
    reader.start()
    assert _link_in_process(tiny_kb, tiny_model_dir, input=_docs_file(tmp_path), output=fifo) == 0
    reader.join(10)
    assert [json.loads(x)["id"] for x in reader.data.splitlines()] == [d["id"] for d in DOCS]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"old\n")
    assert _link_in_process(tiny_kb, tiny_model_dir, input=_docs_file(tmp_path), output=out) == 0
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [d["id"] for d in DOCS]


def _read_until(master: int, end: bytes) -> bytes:
    """What the terminal shows up to ``end``, written by the test after the output it waits for."""
    seen = b""
    while not seen.endswith(end):
        seen += os.read(master, 4096)
    return seen[:-len(end)]


def test_progress_bar_only_on_a_terminal(tmp_path):
    from glinker.link import progress_bar

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 0 columns: tqdm would draw nothing
    try:
        with open(slave, "w", closefd=False) as term:
            with progress_bar(True, stream=term, delay=0) as bar:
                bar.update(3)
            os.write(slave, b"<1>")
            shown = _read_until(master, b"<1>").decode()
            with progress_bar(False, stream=term, delay=0) as bar:
                bar.update(3)
            os.write(slave, b"<2>")
            assert _read_until(master, b"<2>") == b""  # progress=false: nothing was drawn
    finally:
        os.close(master)
        os.close(slave)
    assert "linking" in shown and "3 docs" in shown
    log = tmp_path / "stderr.log"
    with open(log, "w") as not_a_terminal:
        with progress_bar(True, stream=not_a_terminal, delay=0) as bar:
            bar.update(3)
    assert log.read_text() == ""
