"""A training mixture: corpora read with their own readers, named, and sampled by weight.

Each source is ``{name, format, files, weight}``: ``files`` are paths or glob patterns under the data
root; ``format`` is one of :data:`glinker.train.corpora.READERS` or ``auto`` (the older CoNLL/GLiNER
readers of :mod:`glinker.train.data`); ``name`` picks the tag-name table of
:mod:`glinker.train.label_names` (``multiconer``, ``bio``, ``litbank``, ``gum``, ``re3d``, ``btc``; any
other name maps tags with :func:`~glinker.train.data.natural_label`). A source contributes
``weight / sum(weights)`` of the examples the run will see, drawn without replacement until its
sentences run out, then again in a new order, so 150k biomedical sentences do not drown 17k
MultiCoNER ones and a small corpus is repeated rather than lost.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from glinker.errors import InputError
from glinker.train.corpora import read_corpus
from glinker.train.data import NerExample, read_examples
from glinker.train.label_names import name_spans

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One corpus of the mixture."""

    name: str
    files: tuple[str, ...]
    weight: float
    format: str = "auto"

    @classmethod
    def from_mapping(cls, m: Mapping) -> Source:
        """A source from a config mapping; a clear error for missing keys."""
        missing = [k for k in ("name", "files", "weight") if k not in m]
        if missing:
            raise InputError(f"mixture source {dict(m)!r} lacks {', '.join(missing)}")
        files = m["files"]
        files = (files,) if isinstance(files, str) else tuple(files)
        return cls(str(m["name"]), files, float(m["weight"]), str(m.get("format", "auto")))


def expand(pattern: str, root: Path) -> list[Path]:
    """Paths a file name or glob pattern names (relative ones under ``root``); an error if none."""
    base = Path(pattern)
    if not base.is_absolute():
        base = root / pattern
    if any(ch in pattern for ch in "*?["):
        anchor = Path(base.anchor)
        hits = sorted(anchor.glob(str(base.relative_to(anchor))))
    else:
        hits = [base] if base.exists() else []
    if not hits:
        raise InputError(f"mixture file {pattern!r} matches nothing under {root}")
    return hits


def read_source(source: Source, root: Path, check=None) -> tuple[list[NerExample], Counter]:
    """Every sentence of a source, tags still verbatim; ``check(path)`` may refuse a file."""
    examples: list[NerExample] = []
    skipped: Counter = Counter()
    for pattern in source.files:
        for path in expand(pattern, root):
            if check is not None:
                check(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
            if source.format == "auto":
                exs, sk = read_examples(path, label_map=None), Counter()
            else:
                exs, sk = read_corpus(source.format, path)
            examples.extend(exs)
            skipped.update(sk)
    return examples, skipped


def sample_counts(sizes: Sequence[int], weights: Sequence[float], total: int) -> list[int]:
    """How many examples each source gives to a run of ``total`` examples (shares by weight)."""
    wsum = sum(w for w, n in zip(weights, sizes) if n > 0)
    if wsum <= 0:
        raise InputError("the mixture has no weight on any non-empty source")
    return [round(total * w / wsum) if n > 0 else 0 for w, n in zip(weights, sizes)]


def draw(examples: Sequence[NerExample], count: int, rng: random.Random) -> list[NerExample]:
    """``count`` examples: whole shuffled passes over ``examples``, then part of one more."""
    out: list[NerExample] = []
    while len(out) < count and examples:
        order = list(examples)
        rng.shuffle(order)
        out.extend(order[: count - len(out)])
    return out


def build_mixture(sources: Sequence[Source], root: str | Path, total: int, seed: int = 0,
                  check=None, family_positives: bool = False) -> tuple[list[NerExample], dict[str, dict]]:
    """The run's examples (tags replaced by names drawn per occurrence) and per-source statistics.

    ``family_positives``: fine spans are also positives of their coarse family name
    (:func:`glinker.train.label_names.name_spans`).
    """
    root = Path(root)
    rng = random.Random(seed)
    read = [read_source(s, root, check) for s in sources]
    counts = sample_counts([len(r[0]) for r in read], [s.weight for s in sources], total)
    out: list[NerExample] = []
    stats: dict[str, dict] = {}
    for source, (examples, skipped), n in zip(sources, read, counts):
        drawn = name_spans(draw(examples, n, rng), source.name, rng, family_positives)
        out.extend(drawn)
        stats[source.name] = {"sentences": len(examples), "spans": sum(len(e.spans) for e in examples),
                              "drawn": len(drawn), "skipped": dict(skipped)}
        logger.info("mixture %s: %d sentences, %d drawn (weight %.3g); skipped %s", source.name, len(examples),
                    len(drawn), source.weight, dict(skipped) or "nothing")
    rng.shuffle(out)
    return out, stats
