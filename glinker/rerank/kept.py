"""The kept features of a leave-one-out run: every scored gold span's and detected mention's candidate
features, written once after linking and read for later refits (:mod:`glinker.rerank.leave_one_out`).

JSON of plain numbers and strings, nothing executable; the file carries its format, and one of another format is
refused with what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glinker.rerank.fit_e2e import TracedMention

KEPT_FORMAT = 2  # of the save_kept file


@dataclass
class SpanExamples:
    """One scored gold span as ED links it: candidate features (``None`` without candidates), QIDs,
    ruled-out flags and the gold QID."""

    features: np.ndarray | None
    qids: tuple[str, ...]
    ruled: np.ndarray | None
    gold: str


def _arr(a) -> list | None:
    return None if a is None else np.asarray(a).tolist()


def save_kept(path: str | os.PathLike[str], spans: Mapping[str, list[SpanExamples]],
              traced: Mapping[str, Sequence[Sequence[TracedMention]]]) -> None:
    """Write the kept features (JSON: plain numbers and strings, nothing executable) for later refits."""
    data = {"format": KEPT_FORMAT, "spans": {n: [[_arr(s.features), list(s.qids), _arr(s.ruled), s.gold] for s in v]
                      for n, v in spans.items()},
            "traced": {n: [[[m.start, m.end, m.text, m.best, m.mention_score, m.row, _arr(m.features),
                             list(m.qids), _arr(m.ruled)] for m in doc] for doc in docs] for n, docs in traced.items()}}
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, target)


def load_kept(path: str | os.PathLike[str]) -> tuple[dict[str, list[SpanExamples]], dict[str, list]]:
    """What :func:`save_kept` wrote."""
    def arr(v, dtype):
        return None if v is None else np.asarray(v, dtype=dtype)

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != KEPT_FORMAT:
        raise ValueError(f"{path}: kept features of another format (not {KEPT_FORMAT}); delete the file and "
                         "run the leave-one-out benchmark again to remake it")
    spans = {n: [SpanExamples(arr(x, np.float64), tuple(q), arr(r, bool), g) for x, q, r, g in v]
             for n, v in data["spans"].items()}
    traced = {n: [[TracedMention(s, e, t, b, ms, row, arr(x, np.float64), tuple(q), arr(r, bool))
                   for s, e, t, b, ms, row, x, q, r in doc] for doc in docs] for n, docs in data["traced"].items()}
    return spans, traced


