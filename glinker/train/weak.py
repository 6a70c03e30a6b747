"""Weak fine-grained labels from Wikidata: gold mention -> KB entity -> its P31 class names.

The shared corpora know four to six coarse types. A gold span whose text is the label or
an alias of a KB entity also gets that entity's P31 (instance of) class names as extra
labels ("Germany": location + sovereign state + country), which widens the label
vocabulary the heads see without touching span boundaries. Ambiguous names go to the
most popular entity (PageRank in the KB's popularity table).
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from glinker.train.data import NerExample

logger = logging.getLogger(__name__)

# Class names that add nothing (already a gold type) or are Wikidata bookkeeping.
_SKIP = {
    "human", "wikimedia disambiguation page", "wikimedia list article", "wikimedia category",
    "wikimedia template", "family name", "given name", "male given name", "female given name",
    "scholarly article", "unisex given name", "list article", "wikimedia human name disambiguation page",
}
# Where a description's head noun phrase ends ("1984 film directed by ..." -> "film").
_CUT = re.compile(r"\s*(?:[,;:(]| by | in | of | from | for | and | or | who | which | that | directed | created"
                  r" | located | situated | originating | spoken | based | founded | born | at | on | to | with"
                  r" | between | held | released )", re.I)
_LEADING = {"a", "an", "the", "former"}
_DETOK = re.compile(r" ([.,:;!?')\]])|([(\[]) ")


def description_type(description: str, max_words: int = 3) -> str | None:
    """A type phrase from a Wikidata description: drop leading years and proper adjectives, keep the head.

    ``"1994 American crime film directed by Quentin Tarantino"`` -> ``"crime film"``,
    ``"Swedish mathematician"`` -> ``"mathematician"``, ``"river in Serbia"`` -> ``"river"``.
    """
    head = _CUT.split(" " + description.strip() + " ", maxsplit=1)[0].strip()
    words = head.split()
    while words and (words[0][:1].isupper() or words[0][:1].isdigit() or words[0].lower() in _LEADING):
        words.pop(0)
    if not words or len(words) > max_words or any(not w.isalpha() or w[:1].isupper() for w in words):
        return None
    phrase = " ".join(words).lower()
    return None if phrase in _SKIP or len(phrase) < 3 else phrase


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def iter_entities(dump: str | Path) -> Iterator[dict]:
    """The entities of a Wikidata JSON dump (one object per line); a line that does not parse is skipped and counted."""
    dump = Path(dump)
    bad = 0
    with _open(dump) as f:
        for n, line in enumerate(f, 1):
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                if bad <= 3:
                    logger.warning("%s line %d: not a JSON entity, skipped", dump, n)
    if bad:
        logger.warning("%s: %d unreadable lines skipped", dump, bad)


def item_values(ent: dict, prop: str) -> list[str]:
    """The item ids (``Q…``) that ``ent``'s ``prop`` statements point to."""
    out = []
    for c in ent.get("claims", {}).get(prop, []):
        v = c.get("mainsnak", {}).get("datavalue", {}).get("value")
        if isinstance(v, dict) and isinstance(v.get("id"), str) and v["id"].startswith("Q"):
            out.append(v["id"])
    return out


def type_names(qids: list[str], names: dict[str, str], max_words: int = 4) -> list[str]:
    """The English names of class items usable as entity types: lower-case, short, not bookkeeping."""
    out = []
    for q in qids:
        name = names.get(q)
        # proper-noun classes ("county of Texas") are too specific to be types
        if name and name == name.lower() and name not in _SKIP and len(name.split()) <= max_words:
            out.append(name)
    return out


def read_popularity(path: str | Path | None) -> dict[str, float]:
    """QID -> PageRank from a KB popularity table (TSV with ``qid`` and ``pagerank``); no file: empty."""
    rank: dict[str, float] = {}
    if not path or not Path(path).exists():
        return rank
    with _open(Path(path)) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                rank[row["qid"]] = float(row["pagerank"])
            except (KeyError, ValueError):
                continue
    return rank


def load_class_index(dump: str | Path, popularity: str | Path | None = None, max_words: int = 4,
                     descriptions: bool = False, concepts: bool = False) -> dict[str, list[str]]:
    """Map each English label/alias of a KB item to the P31 class names of its most popular bearer.

    With ``descriptions``, the type phrase of the item's description (:func:`description_type`,
    e.g. "politician" for a human) comes first. With ``concepts``, only items whose English
    label is lower-case ("physics", "jazz", "machine learning") and their lower-case names are
    kept: the index for :func:`add_concept_spans`.
    """
    names: dict[str, str] = {}
    items: dict[str, tuple[str, list[str]]] = {}  # QID -> (lower-case label, P31 classes)
    desc: dict[str, str] = {}
    for ent in iter_entities(dump):
        if ent.get("type") != "item":
            continue
        qid = ent["id"]
        lab = ent.get("labels", {}).get("en", {}).get("value")
        if lab:
            names[qid] = lab
        surface = ([lab] if lab else []) + [a["value"] for a in ent.get("aliases", {}).get("en", [])]
        if concepts:  # the label only: lower-case aliases are mostly loose synonyms ("building")
            if not lab or lab != lab.lower():
                continue
            surface = [lab]
        classes = item_values(ent, "P31")
        if surface and classes:
            items[qid] = (surface, classes)
            if descriptions:
                d = ent.get("descriptions", {}).get("en", {}).get("value")
                phrase = description_type(d) if d else None
                if phrase:
                    desc[qid] = phrase
    rank = read_popularity(popularity)
    best: dict[str, tuple[float, str]] = {}
    for qid, (surface, _) in items.items():
        r = rank.get(qid, 0.0)
        for s in surface:
            if s not in best or r > best[s][0]:
                best[s] = (r, qid)
    index: dict[str, list[str]] = {}
    for s, (_, qid) in best.items():
        labels = [desc[qid]] if qid in desc and not concepts else []
        for name in type_names(items[qid][1], names, max_words):
            if name not in labels:
                labels.append(name)
        if concepts and not any(lab in CONCEPT_CLASSES for lab in labels):
            continue
        if labels:
            index[s] = labels
    logger.info("weak-label index: %d names from %d items", len(index), len(items))
    return index


def add_weak_labels(examples: list[NerExample], index: dict[str, list[str]], max_per_span: int = 2
                    ) -> tuple[list[NerExample], Counter]:
    """Copy examples, adding up to ``max_per_span`` class-name labels to each gold span found in ``index``."""
    out = []
    counts: Counter = Counter()
    for ex in examples:
        spans = list(ex.spans)
        for s, e, _ in ex.spans:
            text = " ".join(ex.tokens[s : e + 1])
            hit = index.get(text) or index.get(_DETOK.sub(lambda m: m.group(1) or m.group(2), text))
            if not hit:
                continue
            for lab in hit[:max_per_span]:
                if (s, e, lab) not in spans:
                    spans.append((s, e, lab))
                    counts[lab] += 1
        out.append(NerExample(ex.tokens, spans))
    return out, counts


# Classes whose lower-case members are named like entities in zero-shot label sets (fields, genres,
# languages, instruments, diseases, compounds); most other lower-case items are ordinary words
# ("year": unit of time, "dead": permanent cessation).
CONCEPT_CLASSES = {
    "academic discipline", "branch of science", "field of study", "academic major", "field of work",
    "literary genre", "music genre", "musical instrument", "film genre", "video game genre", "art genre",
    "art movement", "language", "modern language", "dead language", "programming language", "algorithm",
    "disease", "infectious disease", "chemical compound", "chemical element", "group of chemical compounds",
    "sport", "type of sport", "religion", "ideology", "political ideology", "philosophical movement",
}

# Lower-case names that are ordinary words far more often than the concept they name.
_CONCEPT_STOP = {
    "time", "work", "state", "party", "group", "game", "music", "language", "law", "force", "order", "team",
    "school", "title", "power", "film", "show", "play", "series", "line", "field", "form", "head", "home", "side",
    "house", "court", "club", "church", "city", "area", "world", "member", "people", "government", "system",
    "company", "station", "band", "album", "song", "book", "novel", "award", "prize", "election",
    # frequent in the training text and there mostly not the concept (counted on the shared corpora)
    "history", "rights", "performance", "comment", "speech", "water", "reading", "script", "construction",
    "cooperation", "prayer", "management", "teaching", "communication", "conservation", "tourism", "commerce",
    "translation", "narrative", "technology", "education", "arts", "practice",
}


def add_concept_spans(examples: list[NerExample], index: dict[str, list[str]], max_per_span: int = 2,
                      max_words: int = 4, min_chars: int = 4) -> tuple[list[NerExample], Counter]:
    """Copy examples, adding spans for KB concepts named in the text ("physics" -> academic discipline).

    The corpora annotate names only; Wikidata items with lower-case labels are the concepts that
    zero-shot label sets ask for (fields, genres, languages, diseases). Longest matches first;
    a match may not overlap a gold span or another match. ``index`` comes from
    :func:`load_class_index` with ``concepts=True``.
    """
    out = []
    counts: Counter = Counter()
    for ex in examples:
        taken = [False] * len(ex.tokens)
        for s, e, _ in ex.spans:
            for i in range(s, e + 1):
                taken[i] = True
        spans = list(ex.spans)
        n = len(ex.tokens)
        for width in range(max_words, 0, -1):
            for s in range(0, n - width + 1):
                e = s + width - 1
                if any(taken[s : e + 1]):
                    continue
                text = " ".join(ex.tokens[s : e + 1])
                if len(text) < min_chars or text in _CONCEPT_STOP:
                    continue
                hit = index.get(text)
                if not hit:
                    continue
                for lab in hit[:max_per_span]:
                    spans.append((s, e, lab))
                    counts[lab] += 1
                for i in range(s, e + 1):
                    taken[i] = True
        out.append(NerExample(ex.tokens, spans))
    return out, counts


# Words in the names of the Wikidata classes whose lower-case members are roles people hold ("poet": profession,
# "lecturer": position, "captain": military rank, "bishop": ecclesiastical occupation). Entity-linking sets annotate
# such role nouns ("a poet and lecturer") as mentions of the occupation; the NER corpora never type them.
ROLE_CLASS_WORDS = ("occupation", "profession", "position", "rank", "job", "title of authority", "military specialism")
ROLE_LABEL = "occupation"


def plural(phrase: str) -> str:
    """The regular English plural of a phrase's last word ("prime minister" -> "prime ministers")."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith("man"):
        last = last[:-3] + "men"
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def load_role_index(dump: str | Path, max_words: int = 3) -> dict[str, list[str]]:
    """Map role nouns to ``[ROLE_LABEL]``: the lower-case label of every item that is an instance of a class named
    by :data:`ROLE_CLASS_WORDS`, its plural and the title-case form of each ("Professor" before a name). Aliases are
    left out: lower-case ones are loose ("accuracy", "aid"). The index for :func:`add_concept_spans`.
    """
    names: dict[str, str] = {}
    items: dict[str, tuple[str, list[str]]] = {}  # QID -> (lower-case label, P31 classes)
    for ent in iter_entities(dump):
        if ent.get("type") != "item":
            continue
        lab = ent.get("labels", {}).get("en", {}).get("value")
        if lab:
            names[ent["id"]] = lab
        classes = item_values(ent, "P31")
        if lab and lab == lab.lower() and lab.replace(" ", "").isalpha() and classes:
            items[ent["id"]] = (lab, classes)
    index: dict[str, list[str]] = {}
    for s, classes in items.values():
        if len(s.split()) > max_words or not any(w in names.get(c, "") for c in classes for w in ROLE_CLASS_WORDS):
            continue
        for form in (s, plural(s)) if not s.endswith("s") or s.endswith("ss") else (s,):
            index[form] = [ROLE_LABEL]
            index[form.title()] = [ROLE_LABEL]
    logger.info("role index: %d names", len(index))
    return index
