"""What the benchmark scripts share: ``key=value`` options (no Hydra: they take few, flat options), the
machine/date stamp printed next to recorded figures, where a shared entity-linking benchmark lives, and the option
values several scripts read alike (a share from 0 to 1, a file of QIDs).

Run as ``python benchmarks/NAME.py``, a script has ``benchmarks/`` first on ``sys.path`` and imports this module as
``common``.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path


def key_value_options(argv: list[str], defaults: dict[str, str], *, passthrough: bool = False):
    """``defaults`` updated from ``key=value`` arguments.

    An unknown key or a bare word exits with the options; ``-h``/``--help`` prints them with their defaults
    and exits. With ``passthrough=True`` the arguments that are not options are kept, in order, instead (for
    scripts that hand them on as Hydra overrides) and the result is ``(options, rest)``.
    """
    opts = dict(defaults)
    rest: list[str] = []
    for arg in argv:
        if arg in ("-h", "--help"):
            main = sys.modules.get("__main__")
            doc = (getattr(main, "__doc__", None) or "").strip()
            print((doc + "\n\n" if doc else "") + "options: " + " ".join(f"{k}={v}" for k, v in defaults.items()))
            raise SystemExit(0)
        key, eq, value = arg.partition("=")
        if eq and key in defaults:
            opts[key] = value
        elif passthrough:
            rest.append(arg)
        else:
            raise SystemExit(f"unknown option {arg!r}; options: {', '.join(f'{k}=' for k in defaults)}")
    return (opts, rest) if passthrough else opts


def stamp() -> str:
    """``"2026-12-05, x86_64, 2 cores, torch 2.13.0"``: UTC date, machine, usable cores, torch when installed."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # not on macOS
    parts = [f"{datetime.now(timezone.utc):%Y-%m-%d}", platform.machine(), f"{cores} cores"]
    try:
        parts.append(f"torch {metadata.version('torch').split('+')[0]}")  # 2.13.0, not 2.13.0+cpu
    except metadata.PackageNotFoundError:
        pass
    return ", ".join(parts)


def el_benchmark_path(name: str) -> str:
    """A shared entity-linking benchmark's file under the data folder, by name: ``istex*`` are OpenTapioca's
    NIF/Turtle sets, the others ELEVANT JSONL (``aida-conll-dev`` -> ``el/elevant/aida-conll-dev.benchmark.jsonl``)."""
    return f"el/opentapioca/{name}.ttl" if name.startswith("istex") else f"el/elevant/{name}.benchmark.jsonl"


def share_option(name: str, value: str, what: str) -> float:
    """The option ``name=value`` as a number from 0 to 1 (``what`` it is a share of, for the message); exits with
    a message otherwise."""
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise SystemExit(f"{name}={value}: expected the share of {what}, from 0 to 1")
    return share


def choice_option(name: str, value: str, choices) -> str:
    """The option ``name=value`` when it is one of ``choices``; exits with them otherwise."""
    if value not in choices:
        raise SystemExit(f"{name}={value}: expected one of {', '.join(choices)}")
    return value


def balance_option(name: str, value: str) -> float:
    """The benchmark balance of the ranker fits (``benchmark_weights``) as a number; exits with a message otherwise."""
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name}={value}: expected a number from 0 (every gold span alike) to 1 (every benchmark "
                         "alike)") from None


def qid_file(name: str, value: str, hint: str = "") -> set[str] | None:
    """The QIDs (one a line) of the file the option ``name=value`` names; ``None`` when it names none; exits with a
    message when the file is not there (``hint``: where such a file comes from)."""
    if not value:
        return None
    listed = Path(value)
    if not listed.is_file():
        raise SystemExit(f"{name}={listed}: not found; give a file of QIDs, one a line{hint}")
    return set(listed.read_text(encoding="utf-8").split())
