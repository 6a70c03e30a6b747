"""How many of the kept entities' P31 classes the KB itself names.

The reranker's type features (:func:`glinker.rerank.features.type_scores`) score a candidate against the
names of its P31 classes, read from the KB. A class the dump does not hold (a slice, a filtered dump) has no
name there, so its entities get no type score, and the ranker, fitted on a KB where classes are present,
reads that as a type mismatch: an exact, unambiguous name can then be left NIL. The build counts this and
warns when it is common, so a KB built without its classes says so instead of linking worse in silence.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from glinker.kb.store import LmdbEntityStore

logger = logging.getLogger(__name__)

# as many classes per entity as the type features read
CLASSES_READ = 8
# share of P31 references to classes the KB lacks above which the build warns
WARN_SHARE = 0.05  # a slice that keeps its classes (the arnold one) misses 0.2 %


def class_references(types: tuple[str, ...]) -> tuple[str, ...]:
    """The P31 classes of one entity that the type features read."""
    return types[:CLASSES_READ]


def class_coverage(store_dir: str | Path, references: Counter[str]) -> dict[str, int]:
    """Counts for the manifest: distinct classes referenced and missing from the store at ``store_dir``, and
    the references (entity, class) to them; logs a warning when more than :data:`WARN_SHARE` of the
    references name a class the KB lacks."""
    store = LmdbEntityStore(store_dir)
    try:
        present = set(store.get_many(references))
    finally:
        store.close()
    missing = {c: n for c, n in references.items() if c not in present}
    total = sum(references.values())
    lost = sum(missing.values())
    if total and lost / total > WARN_SHARE:
        examples = ", ".join(c for c, _ in Counter(missing).most_common(5))
        logger.warning(
            "%.0f %% of the kept entities' P31 references name a class the KB does not hold (%d of %d classes; "
            "most used: %s): the reranker's type features score no class for those entities and read that as a "
            "mismatch. Build from a dump that also holds the class entities (the full dump does) for better "
            "links.", 100 * lost / total, len(missing), len(references), examples)
    return {"referenced": len(references), "missing": len(missing), "references": total,
            "references_missing": lost}
