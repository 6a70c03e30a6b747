"""``key=value`` command-line options for the benchmark scripts (no Hydra: they take few, flat options)."""

from __future__ import annotations


def key_value_options(argv: list[str], defaults: dict[str, str]) -> dict[str, str]:
    """``defaults`` updated from ``key=value`` arguments; an unknown key or a bare word exits with the options."""
    opts = dict(defaults)
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq or key not in defaults:
            raise SystemExit(f"unknown option {arg!r}; options: {', '.join(f'{k}=' for k in defaults)}")
        opts[key] = value
    return opts
