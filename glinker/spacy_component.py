"""glinker as a spaCy pipeline component: ``nlp.add_pipe("glinker", config={"kb_dir": ...})``.

Registered through the ``spacy_factories`` entry point (``pip install -e ".[spacy]"``), so no import
is needed. The component links each doc's text with a :class:`~glinker.pipeline.Pipeline` and sets
``doc.ents``: ``label_`` is the detected type, ``kb_id_`` the QID ("" for NIL). Each entity span
also has ``._.glinker_score`` (link score), ``._.glinker_detection_score``,
``._.glinker_description`` and ``._.glinker_candidates`` (``candidates=K``: the top K as dicts).

Mentions are character offsets; they become token spans with ``doc.char_span(...,
alignment_mode="expand")``, so a mention inside a token takes the whole token. Where two mentions
meet the same token, the one with the higher link score (then the longer) is kept. The tokenizer
is spaCy's: the component works after ``spacy.blank("en")`` and a sentencizer as after a full model,
and replaces any entities an earlier component set.

Example::

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("glinker", config={"kb_dir": None, "candidates": 3})   # None: the demo KB
    doc = nlp("Arnold Schwarzenegger starred in The Terminator.")
    [(e.text, e.label_, e.kb_id_) for e in doc.ents]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from spacy.language import Language
from spacy.tokens import Doc, Span

from glinker.types import Document, LinkedMention

for _name in ("glinker_score", "glinker_detection_score", "glinker_description", "glinker_candidates"):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=None)

_PIPELINES: dict[tuple, object] = {}  # one loaded pipeline per configuration, shared by components


def _pipeline(kb_dir: str | None, model: str | None, labels: tuple[str, ...] | None, overrides: tuple[str, ...]):
    """The pipeline of ``glinker.link`` with these options (:func:`glinker.config.load_pipeline`), loaded once
    per process."""
    key = (kb_dir, model, labels, overrides)
    if key not in _PIPELINES:
        from glinker.config import load_pipeline

        _PIPELINES[key] = load_pipeline(kb_dir=kb_dir, model=model, labels=None if labels is None else list(labels),
                                        overrides=list(overrides))
    return _PIPELINES[key]


class GlinkerComponent:
    """Links a doc's text and writes the linked mentions as ``doc.ents`` (see the module doc).

    Args:
        nlp: The spaCy pipeline (unused; spaCy passes it).
        name: The component's name.
        kb_dir: KB folder (``None``: the demo KB).
        model: Detector checkpoint folder (``None``: the default model).
        labels: Entity types to detect (``None``: the detector's default set).
        threshold: Detector threshold (``None``: the configured one).
        candidates: Ranked candidates kept per mention in ``._.glinker_candidates`` (0: none).
        batch_size: Docs linked together by :meth:`pipe` when spaCy does not say.
        overrides: Further ``glinker.link`` options as ``key=value`` strings.
    """

    def __init__(self, nlp: Language, name: str, kb_dir: str | None = None, model: str | None = None,
                 labels: list[str] | None = None, threshold: float | None = None, candidates: int = 0,
                 batch_size: int = 16, overrides: list[str] | None = None) -> None:
        self.name = name
        args = tuple(overrides or ())
        if threshold is not None:
            args += (f"detector.threshold={threshold}",)
        args += (f"candidates={int(candidates)}",)
        self.linker = _pipeline(kb_dir, model, None if labels is None else tuple(labels), args)
        self.batch_size = max(1, int(batch_size))

    def __call__(self, doc: Doc) -> Doc:
        """Link one doc."""
        return next(iter(self.pipe([doc], batch_size=1)))

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Link docs ``batch_size`` at a time (one pipeline batch each); yields them in order."""
        it = iter(stream)
        while batch := list(islice(it, batch_size or self.batch_size)):
            docs = [Document(str(k), d.text) for k, d in enumerate(batch)]
            todo = [d for d in docs if d.text.strip()]
            if todo:
                self.linker.link_batch(todo)
            for doc, linked in zip(batch, docs):
                set_entities(doc, linked.mentions)
                yield doc


def set_entities(doc: Doc, mentions: list[LinkedMention]) -> None:
    """Write linked mentions as ``doc.ents`` (token-aligned by expansion, overlaps resolved; see the module doc)."""
    ranked = sorted(mentions, key=lambda m: (m.qid is not None, m.link_score, m.end - m.start), reverse=True)
    taken: set[int] = set()
    spans = []
    for m in ranked:
        span = doc.char_span(m.start, m.end, label=m.label, kb_id=m.qid or "", alignment_mode="expand")
        if span is None or not len(span) or taken.intersection(range(span.start, span.end)):
            continue
        taken.update(range(span.start, span.end))
        span._.glinker_score = m.link_score
        span._.glinker_detection_score = m.score
        span._.glinker_description = m.description
        span._.glinker_candidates = list(m.candidates)
        spans.append(span)
    doc.ents = sorted(spans, key=lambda s: s.start)


@Language.factory("glinker", default_config={"kb_dir": None, "model": None, "labels": None, "threshold": None,
                                             "candidates": 0, "batch_size": 16, "overrides": []})
def make_glinker(nlp: Language, name: str, kb_dir: str | None, model: str | None, labels: list[str] | None,
                 threshold: float | None, candidates: int, batch_size: int, overrides: list[str]) -> GlinkerComponent:
    """The ``glinker`` factory (see :class:`GlinkerComponent`)."""
    return GlinkerComponent(nlp, name, kb_dir=kb_dir, model=model, labels=labels, threshold=threshold,
                            candidates=candidates, batch_size=batch_size, overrides=overrides)
