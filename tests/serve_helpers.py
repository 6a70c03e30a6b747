"""Starting the real HTTP server for tests on a free 127.0.0.1 port: uvicorn in a thread of the test process
(``running``), or ``python -m glinker.serve`` as its own process (``serving_process``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, failure, timeout_s: float) -> None:
    """Poll ``url/ready`` until it answers 200; raise when ``failure()`` names a reason or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        reason = failure()
        if reason:
            raise RuntimeError(reason)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} was not ready after {timeout_s:.0f} s")
        time.sleep(0.2)


@contextmanager
def running(app, ready_timeout_s: float = 300.0) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL once ``/ready`` answers 200."""
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, log_config=None))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def failure() -> str | None:
        if app.state.glinker.load_error:
            return f"the server could not load: {app.state.glinker.load_error}"
        return None if thread.is_alive() else "the server thread stopped"

    try:
        wait_ready(url, failure, ready_timeout_s)
        yield url
    finally:
        server.should_exit = True
        thread.join(60)


def demo_app(*overrides: str, **kwargs):
    """The app of ``python -m glinker.serve`` (demo KB) with these ``key=value`` options."""
    pytest.importorskip("fastapi")
    from omegaconf import OmegaConf

    from glinker.config import PipelineFactory
    from glinker.serve.app import create_app
    from glinker.serve.options import compose_config, read_serve_options

    cfg = compose_config("serve", list(overrides))
    return create_app(PipelineFactory(OmegaConf.to_container(cfg, resolve=True)), read_serve_options(cfg),
                      default_candidates=cfg.candidates, **kwargs)


@contextmanager
def serving_process(*overrides: str, ready_timeout_s: float = 300.0) -> Iterator[str]:
    """Run ``python -m glinker.serve port=… *overrides`` as a separate process until the block ends; yields its
    base URL once ``/ready`` answers 200. A separate process keeps the server's interpreter state apart from the
    test's: fuzzers that run in the test process (hypothesis) then share nothing with the server but HTTP."""
    pytest.importorskip("uvicorn")
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    fd, name = tempfile.mkstemp(prefix="glinker-serve-", suffix=".log")
    os.close(fd)
    log = Path(name)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "glinker.serve", f"port={port}", "log_level=warning",
                                 *overrides], cwd=root, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def failure() -> str | None:
        if proc.poll() is None:
            return None
        return f"python -m glinker.serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}"

    try:
        wait_ready(url, failure, ready_timeout_s)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.unlink(missing_ok=True)
