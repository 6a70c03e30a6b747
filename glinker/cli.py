"""What every command-line entry point shares: one line per error, and the exit codes.

Exit codes: 0 success; 2 bad options, input, data or KB (:class:`glinker.errors.GlinkerError`, reported
in one line that says what to do, never a traceback); 130 / 143 stopped by SIGINT / SIGTERM
(:mod:`glinker.interrupts`). A command module wraps its Hydra task in :func:`reports_errors` and its
console entry point in :func:`run_command`.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from glinker.errors import GlinkerError
from glinker.interrupts import Interrupted, stop_on_signals

logger = logging.getLogger("glinker")

EXIT_BAD_INPUT = 2


def reports_errors(task: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Hydra task: a :class:`GlinkerError` becomes one ``error:`` line and exit 2.

    Hydra would otherwise print its own "Error executing job" block and exit 1.
    """

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except GlinkerError as exc:
            logger.error("%s", exc)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


def run_command(app: Callable[[], Any], stopped: str) -> None:
    """Run a console command with SIGINT / SIGTERM turned into :class:`Interrupted`.

    ``stopped`` says what a stop leaves behind ("no document was written"); it follows the signal name
    in the one line printed, unless the command reported the stop itself.
    """
    with stop_on_signals():
        try:
            app()
        except Interrupted as exc:
            if not exc.reported:
                logger.error("%s: %s", exc, stopped)
            sys.exit(exc.exit_code)
