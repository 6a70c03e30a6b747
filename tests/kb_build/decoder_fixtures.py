"""The ``decoders`` fixture shared by the dump tests (import it into a test module to use it)."""

from __future__ import annotations

import pytest

import kb_build.decompress as decompress


@pytest.fixture(params=["parallel-decoders", "stdlib-decoders"])
def decoders(request, monkeypatch) -> str:
    """Runs a test with rapidgzip/indexed_bzip2 (when installed) and with the stdlib fallback; returns which."""
    if request.param == "parallel-decoders":
        if decompress.rapidgzip is None or decompress.indexed_bzip2 is None:
            pytest.skip("rapidgzip / indexed_bzip2 not installed")
    else:
        monkeypatch.setattr(decompress, "rapidgzip", None)
        monkeypatch.setattr(decompress, "indexed_bzip2", None)
    return request.param
