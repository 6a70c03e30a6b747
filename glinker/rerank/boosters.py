"""LightGBM models stored as text: the packaged folder and a checked loader.

The reranker's trees (:func:`glinker.rerank.ranker.load_ranker`) and the NIL model
(:class:`glinker.rerank.nil.NilModel`) are LightGBM text files: parsed, never unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# Packaged models (lambdamart.txt, nil.txt); configs name them by file name alone.
RANKER_DIR = Path(__file__).resolve().parents[1] / "resources" / "reranker"


def packaged_file(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or the packaged model of that name when ``path`` is relative and does not exist."""
    file = Path(path)
    if not file.is_file() and not file.is_absolute() and (RANKER_DIR / file).is_file():
        return RANKER_DIR / file
    return file


def load_booster(path: str | os.PathLike[str], features: Sequence[str], kind: str, fit_hint: str):
    """A LightGBM booster from its text file, refused unless every feature it reads is one of ``features``.

    A model may read a subset of ``features`` (it was fitted before a feature was added, or without
    one): :func:`feature_columns` maps its inputs to their columns. ``kind`` names the model in messages
    ("reranker model"); ``fit_hint`` is the command that makes one.
    """
    import lightgbm

    file = packaged_file(path)
    if not file.is_file():
        raise FileNotFoundError(f"{kind} {path} not found (nor in {RANKER_DIR}); fit one with {fit_hint}")
    booster = lightgbm.Booster(model_str=file.read_text(encoding="utf-8"))
    unknown = [n for n in booster.feature_name() if n not in features]
    if unknown:
        raise ValueError(f"{kind} {file} reads features {unknown} that this version does not compute "
                         f"(it computes {list(features)}); refit it with {fit_hint}")
    return booster


def feature_columns(booster, features: Sequence[str]) -> list[int]:
    """Positions in ``features`` of the inputs ``booster`` reads, in its order."""
    index = {n: i for i, n in enumerate(features)}
    return [index[n] for n in booster.feature_name()]


def calibration(path: str | os.PathLike[str], required: Sequence[str]) -> dict:
    """The calibration file beside a model (``lambdamart.txt`` -> ``lambdamart.json``): its scale, bias and
    thresholds, fitted with it. Every key in ``required`` must be there.

    Raises:
        FileNotFoundError / ValueError: the file is missing, unreadable or lacks a key (a model without the
            numbers it was fitted with would decide wrongly; refit or reinstall).
    """
    import json

    file = packaged_file(path).with_suffix(".json")
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: the calibration of {path} is missing (a broken install or a model "
                                "copied without it: reinstall glinker or refit with scripts/fit_reranker.py)") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: unreadable calibration ({exc})") from None
    missing = [k for k in required if k not in values]
    if missing:
        raise ValueError(f"{file}: calibration lacks {', '.join(missing)}")
    return values
