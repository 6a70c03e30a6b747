"""Synthetic typed sentences from Wikidata: fine-grained entity types the NER corpora never annotate.

The shared corpora mark four to six coarse types in news and Wikipedia text; zero-shot label
sets ask for albums, political parties, universities, awards, diseases, languages... Each
named item of a Wikidata dump with an English description, and each concept of the classes
such label sets ask for (fields, genres, languages, diseases: ``CONCEPT_CLASSES``), becomes a
sentence in the style of an encyclopedia's first line; three unrelated items make one text::

    Cloud Atlas is a 2012 film directed by Tom Tykwer and the Wachowskis. Frutz is a river in
    Austria. Frédéric Mitterrand is a French politician.

Every item named in the text is a span typed with the item's type names: the head of its
description ("2012 film directed by" -> "film"), its occupations (P106) and its classes (P31),
plus "person" for humans. Names inside the description are typed too when they are the
English label of a KB item ("Austria" -> country), except where a name is used as an adjective
("French politician"). Every label comes from the dump's own statements about that item.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from glinker.model.inputs import split_words
from glinker.train.data import NerExample
from glinker.train.weak import (
    CONCEPT_CLASSES,
    description_type,
    item_values,
    iter_entities,
    read_popularity,
    type_names,
)

logger = logging.getLogger(__name__)

HUMAN = "Q5"
_CAPITALISED = re.compile(r"[A-Z0-9]")


@dataclass
class _Item:
    label: str
    description: str | None
    labels: list[str]


def load_items(dump: str | Path, max_labels: int = 3, max_words: int = 4) -> dict[str, _Item]:
    """Read a Wikidata JSON dump: the items that have an English label and at least one type name."""
    dump = Path(dump)
    names: dict[str, str] = {}
    raw: dict[str, tuple[str, str | None, list[str], list[str], bool]] = {}
    for ent in iter_entities(dump):
        lab = ent.get("labels", {}).get("en", {}).get("value")
        if ent.get("type") != "item" or not lab:
            continue
        qid = ent["id"]
        names[qid] = lab
        desc = ent.get("descriptions", {}).get("en", {}).get("value")
        p31 = item_values(ent, "P31")
        raw[qid] = (lab, desc, p31, item_values(ent, "P106"), HUMAN in p31)
    items: dict[str, _Item] = {}
    for qid, (lab, desc, p31, occupations, human) in raw.items():
        labels: list[str] = []
        # a lower-case item is a concept ("jazz", "financial economics"): its description's head is
        # seldom a type ("branch of economics" -> "branch"), so its classes alone type it
        head = description_type(desc) if desc and not lab[:1].islower() else None
        for name in ([head] if head else []) + type_names(occupations, names, max_words) + type_names(
                p31, names, max_words):
            if name not in labels:
                labels.append(name)
        labels = labels[:max_labels]
        if human:
            labels.append("person")
        if labels:
            items[qid] = _Item(lab, desc, labels)
    return items


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


class _Builder:
    """Accumulates text and character spans, then converts them to words."""

    def __init__(self) -> None:
        self.text = ""
        self.spans: list[tuple[int, int, list[str]]] = []

    def add(self, s: str, labels: list[str] | None = None) -> None:
        if labels:
            self.spans.append((len(self.text), len(self.text) + len(s), labels))
        self.text += s

    def example(self) -> NerExample | None:
        words = split_words(self.text)
        by_start = {c: i for i, c in enumerate(words.starts)}
        by_end = {c: i for i, c in enumerate(words.ends)}
        spans = []
        for cs, ce, labels in self.spans:
            if cs in by_start and ce in by_end and by_end[ce] - by_start[cs] < 12:
                spans.extend((by_start[cs], by_end[ce], lab) for lab in labels)
        return NerExample(list(words.tokens), spans) if spans else None


def _description_spans(b: _Builder, description: str, surface: dict[str, str], items: dict[str, _Item],
                       skip: str) -> None:
    """Append ``description``, typing the longest names of ``surface`` (name -> item) found in it."""
    words = split_words(description)
    n = len(words.tokens)
    i = 0
    pos = 0
    while i < n:
        hit = None
        for j in range(min(n, i + 6) - 1, i - 1, -1):
            s = description[words.starts[i] : words.ends[j]]
            q = surface.get(s)
            if q and q != skip:
                hit = (j, q)
                break
        # "French politician": a name before a lower-case word is used as an adjective (a demonym, not the language)
        if hit is not None and hit[0] + 1 < n and words.tokens[hit[0] + 1][:1].islower():
            hit = None
        if hit is None:
            i += 1
            continue
        j, q = hit
        b.add(description[pos : words.starts[i]])
        b.add(description[words.starts[i] : words.ends[j]], items[q].labels[:2])
        pos = words.ends[j]
        i = j + 1
    b.add(description[pos:])


def item_sentence(b: _Builder, qid: str, items: dict[str, _Item], surface: dict[str, str]) -> None:
    """Append "{label} is a {description}." for ``qid``, typing it and the KB names in its description."""
    it = items[qid]
    if b.text:
        b.add(" ")
    b.add(it.label, it.labels)
    b.add(f" is {_article(it.description or '')} ")
    _description_spans(b, it.description or "", surface, items, skip=qid)
    b.add(".")


def _description_index(items: dict[str, _Item], rank: dict[str, float]) -> dict[str, str]:
    """English label -> the most popular item bearing it, for names inside descriptions.

    Labels only, not aliases, and a one-word label only for an item in the upper half by
    PageRank: a capitalised word in a description is too often something else ("King", "1941").
    """
    ranks = sorted(rank.values())
    median = ranks[len(ranks) // 2] if ranks else 0.0
    best: dict[str, tuple[float, str]] = {}
    for q, it in items.items():
        name = it.label
        if len(name) < 2 or not name[:1].isupper() or name.isdigit():
            continue
        r = rank.get(q, 0.0)
        if " " not in name and r <= median:
            continue
        if name not in best or r > best[name][0]:
            best[name] = (r, q)
    return {n: q for n, (_, q) in best.items()}


def synthetic_examples(dump: str | Path, popularity: str | Path | None = None, max_items: int = 60000,
                       per_text: int = 3, seed: int = 42) -> tuple[list[NerExample], Counter]:
    """Synthetic texts for the ``max_items`` most popular typed items of ``dump``, ``per_text`` items each.

    Items are shuffled before grouping, so a text mixes unrelated items (a film, a river, a
    politician) as a zero-shot label set mixes types.
    """
    dump = Path(dump)
    items = load_items(dump)
    rank = read_popularity(popularity)
    # subjects: names, and the concepts zero-shot label sets ask for (fields, genres, languages, diseases);
    # other lower-case items are mostly ordinary words ("year": unit of time)
    subjects = [q for q, it in items.items() if it.description and (
        _CAPITALISED.match(it.label) or CONCEPT_CLASSES.intersection(it.labels))]
    order = sorted(subjects, key=lambda q: (-rank.get(q, 0.0), q))[:max_items]
    rng = random.Random(seed)
    rng.shuffle(order)
    surface = _description_index(items, rank)
    out: list[NerExample] = []
    counts: Counter = Counter()
    for i in range(0, len(order), per_text):
        b = _Builder()
        for qid in order[i : i + per_text]:
            item_sentence(b, qid, items, surface)
        ex = b.example()
        if ex is None:
            continue
        out.append(ex)
        counts.update(lab for _, _, lab in ex.spans)
    logger.info("synthetic: %d texts from %d typed items, %d spans, %d label names; top %s", len(out), len(items),
                sum(counts.values()), len(counts), counts.most_common(10))
    return out, counts
