"""Stopping a command-line run on SIGINT / SIGTERM, and the temporary files of runs that were killed.

A CLI runs its work inside :func:`stop_on_signals`: the first SIGINT (Ctrl-C) or SIGTERM raises
:class:`Interrupted` in the main thread, so ``finally`` blocks publish or discard what was written;
the CLI then prints one line and exits ``128 + signal number`` (130, 143), the status a shell
reports for a process stopped by that signal. A second signal while the run cleans up exits at
once. Code that must not be cut in half (one output line and its count) runs under :func:`held`.

A run killed with SIGKILL cleans nothing up; the next run to the same place removes what it left
(:func:`remove_leftovers`), identified by the process id in its name.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived. A BaseException, as KeyboardInterrupt, so ``except Exception`` lets it through.

    Attributes:
        signum: the signal number.
        name: its name (``SIGINT``, ``SIGTERM``).
        exit_code: ``128 + signum``.
        reported: set by whoever has already told the user what the interruption left behind.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.reported = False
        super().__init__(f"interrupted by {self.name}")


class _State:
    owner = 0  # the process that installed the handlers
    installed = 0
    holding = 0
    pending: int | None = None
    stopping = False


def _on_signal(signum: int, frame: object) -> None:
    if os.getpid() != _State.owner:
        # a forked worker (multiprocessing) inherited this handler: it ends as by default, quietly
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _State.stopping:
        # the user insists: leave without cleaning up (the next run removes the leftovers)
        os.write(2, f"{signal.Signals(signum).name} again: stopping without cleaning up\n".encode())
        os._exit(128 + signum)
    _State.stopping = True
    if _State.holding:
        _State.pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise :class:`Interrupted` (main thread only); restored after."""
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, _on_signal)
    _State.installed += 1
    _State.owner = os.getpid()
    try:
        yield
    finally:
        _State.installed -= 1
        for s, handler in previous.items():
            signal.signal(s, handler)
        if not _State.installed:
            _State.stopping, _State.pending, _State.holding = False, None, 0


@contextmanager
def held() -> Iterator[None]:
    """Defer a stop signal that arrives inside this block to its end (a short, bounded piece of work)."""
    _State.holding += 1
    try:
        yield
    finally:
        _State.holding -= 1
        if not _State.holding and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(folder: Path, prefix: str, what: str) -> list[Path]:
    """Delete ``folder/<prefix><PID>`` files whose process is gone; warn about those of live processes.

    Args:
        folder: where the temporary files are.
        prefix: their name up to the process id, e.g. ``.out.jsonl.tmp``.
        what: what they are the temporary files of, for the messages (e.g. ``output=out.jsonl``).

    Returns:
        The files removed.
    """
    removed = []
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if not match or int(match.group(1)) == os.getpid():
            continue
        path, pid = folder / name, int(match.group(1))
        if pid_alive(pid):
            logger.warning("%s: a run with process id %d is writing %s now (or it was killed and the id is in "
                           "use again: then delete the file)", path, pid, what)
            continue
        try:
            path.unlink()
        except OSError as exc:
            logger.warning("cannot remove %s, left by an interrupted run (process %d): %s", path, pid, exc.strerror)
            continue
        logger.info("removed %s, left by an interrupted run (process %d) writing %s", path, pid, what)
        removed.append(path)
    return removed
