"""``python -m glinker`` is ``python -m glinker.link``."""

from __future__ import annotations

from glinker.link import main

main()
