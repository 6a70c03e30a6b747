"""Readers for the NER corpora in ``../shared/data/ner``, all producing :class:`NerExample`.

Formats:
    ``conll``   token TAB-or-SPACE BIO tag per line, blank line between sentences,
                ``-DOCSTART-`` lines skipped (CoNLL-2003, WNUT-17, WikiGold, CrossNER txt).
    ``conllu``  ``idx TAB token TAB tag`` (WikiNeural).
    ``gliner_json``   ``[{"sentence", "entities": [{"name", "type", "pos": [s, e]}]}]`` with
                character offsets; words come from :func:`glinker.model.inputs.split_words`.
    ``gliner_train``  ``[{"tokenized_text": [...], "ner": [[start, end_incl, label]]}]``.

Tag names become natural-language labels ("PER" -> "person") through :func:`natural_label`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glinker.errors import InputError
from glinker.model.inputs import split_words

FORMATS = ("conll", "conllu", "gliner_json", "gliner_train")
LabelMap = Callable[[str], str]


@dataclass
class NerExample:
    """One sentence: words and typed spans (word indices, end inclusive)."""

    tokens: list[str]
    spans: list[tuple[int, int, str]] = field(default_factory=list)


# Tag -> label. Keys are lower-case with '-', '_' and spaces removed (see _key).
_LABELS = {
    "per": "person",
    "person": "person",
    "org": "organization",
    "organisation": "organization",
    "organization": "organization",
    "loc": "location",
    "location": "location",
    "misc": "miscellaneous",
    "miscellaneous": "miscellaneous",
    "gpe": "geopolitical entity",
    "norp": "nationality or group",
    "fac": "facility",
    "corporation": "corporation",
    "product": "product",
    "creativework": "creative work",
    "group": "group",
    "programlang": "programming language",
    "programlanguage": "programming language",
    "musicalartist": "musical artist",
    "musicgenre": "music genre",
    "musicalinstrument": "musical instrument",
    "literarygenre": "literary genre",
    "politicalparty": "political party",
    "astronomicalobject": "astronomical object",
    "academicjournal": "academic journal",
    "chemicalcompound": "chemical compound",
    "chemicalelement": "chemical element",
    "workofart": "work of art",
}


def _identity(tag: str) -> str:
    return tag


def _key(tag: str) -> str:
    return re.sub(r"[-_\s]", "", tag).lower()


def natural_label(tag: str) -> str:
    """Map a corpus tag to a natural-language label.

    Known tags use a table (``PER`` -> ``person``, ``programlang`` -> ``programming language``);
    anything else is split on ``_``/``-``/camelCase and lower-cased (``workOfArt`` -> ``work of art``).
    """
    tag = tag.strip()
    hit = _LABELS.get(_key(tag))
    if hit:
        return hit
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tag)
    text = re.sub(r"[_\-/]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _spans_from_bio(tags: list[str], label_map: LabelMap = natural_label) -> list[tuple[int, int, str]]:
    """BIO/IOB1 tags -> spans; an ``I-`` after ``O`` or another type starts a span (IOB1, WikiGold)."""
    spans: list[tuple[int, int, str]] = []
    start, cur = -1, None
    for i, tag in enumerate([*tags, "O"]):
        if tag == "O" or not tag:
            prefix, typ = "O", None
        elif len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESU":
            prefix, typ = tag[0], tag[2:]
        else:
            prefix, typ = "B", tag
        if cur is not None and (prefix in "BSUO" or typ != cur):
            spans.append((start, i - 1, label_map(cur)))
            cur = None
        if typ is not None and cur is None:
            start, cur = i, typ
        if prefix in "ESU" and cur is not None:
            spans.append((start, i, label_map(cur)))
            cur = None
    return spans


def _bio_sentences(lines, path: Path, token_col: int, label_map: LabelMap):
    tokens: list[str] = []
    tags: list[str] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip():
            if tokens:
                yield NerExample(tokens, _spans_from_bio(tags, label_map))
            tokens, tags = [], []
            continue
        parts = line.split("\t") if "\t" in line else line.split(" ")
        parts = [p for p in parts if p != ""]
        if parts and parts[0] == "-DOCSTART-" or (token_col and len(parts) > 1 and parts[1] == "-DOCSTART-"):
            continue
        if len(parts) < token_col + 2:
            raise InputError(f"{path}:{lineno}: expected token and tag columns, got {line!r}")
        tokens.append(parts[token_col])
        tags.append(parts[-1])
    if tokens:
        yield NerExample(tokens, _spans_from_bio(tags, label_map))


def read_conll(path: str | Path, label_map: LabelMap = natural_label) -> list[NerExample]:
    """CoNLL-style BIO file: ``token<TAB or SPACE>...tag`` (tag in the last column)."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        return list(_bio_sentences(f, path, 0, label_map))


def read_conllu(path: str | Path, label_map: LabelMap = natural_label) -> list[NerExample]:
    """``idx TAB token TAB tag`` (WikiNeural); ``#`` comment lines skipped."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        return list(_bio_sentences((ln for ln in f if not ln.startswith("#")), path, 1, label_map))


def read_gliner_json(path: str | Path, label_map: LabelMap = natural_label) -> list[NerExample]:
    """GLiNER evaluation JSON with character offsets, mapped to :func:`split_words` words.

    An entity whose offsets do not fall on word boundaries is snapped to the words it
    overlaps.
    """
    path = Path(path)
    rows = _load_json(path)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "sentence" not in row:
            raise InputError(f"{path}: item {i} has no 'sentence' key (is this the GLiNER char-offset format?)")
        words = split_words(row["sentence"])
        spans = []
        for ent in row.get("entities", []):
            s, e = ent["pos"]
            idx = [w for w in range(len(words)) if words.starts[w] < e and words.ends[w] > s]
            if idx:
                spans.append((idx[0], idx[-1], label_map(ent["type"])))
        out.append(NerExample(list(words.tokens), spans))
    return out


def read_gliner_train(path: str | Path, label_map: LabelMap = natural_label) -> list[NerExample]:
    """GLiNER training format ``{"tokenized_text", "ner": [[start, end_incl, label]]}``."""
    path = Path(path)
    rows = _load_json(path)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "tokenized_text" not in row:
            raise InputError(f"{path}: item {i} has no 'tokenized_text' key")
        toks = [str(t) for t in row["tokenized_text"]]
        spans = [(int(s), int(e), label_map(str(lab))) for s, e, lab in row.get("ner", []) if 0 <= s <= e < len(toks)]
        out.append(NerExample(toks, spans))
    return out


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from exc


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its extension and first content."""
    path = Path(path)
    if path.suffix == ".conllu":
        return "conllu"
    with path.open(encoding="utf-8") as f:
        head = f.read(4096)
    stripped = head.lstrip()
    if stripped.startswith("["):
        if '"tokenized_text"' in head:
            return "gliner_train"
        if '"sentence"' in head:
            return "gliner_json"
        raise InputError(f"{path}: JSON but neither GLiNER format (no 'sentence' or 'tokenized_text' key)")
    for line in head.splitlines():
        if line.strip():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[0].isdigit():
                return "conllu"
            return "conll"
    raise InputError(f"{path}: empty file")


READERS = {
    "conll": read_conll,
    "conllu": read_conllu,
    "gliner_json": read_gliner_json,
    "gliner_train": read_gliner_train,
}


def read_examples(path: str | Path, fmt: str = "auto", label_map: LabelMap | None = natural_label) -> list[NerExample]:
    """Read any supported file (``fmt="auto"`` detects the format).

    ``label_map`` turns corpus tags into labels; ``None`` keeps them verbatim.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"NER data file not found: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise InputError(f"unknown NER format {fmt!r}: use one of {', '.join(FORMATS)} or auto")
    return READERS[fmt](path, label_map or _identity)


def resplit(example: NerExample) -> NerExample:
    """Re-split corpus tokens with the model's word splitter (``U.S.`` -> ``U . S .``).

    Inference splits raw text with :func:`split_words`, so training on the same word
    boundaries avoids a train/test mismatch. Spans are mapped to the new word indices.
    """
    tokens: list[str] = []
    first: list[int] = []
    last: list[int] = []
    for tok in example.tokens:
        pieces = split_words(tok).tokens or [tok]
        first.append(len(tokens))
        tokens.extend(pieces)
        last.append(len(tokens) - 1)
    spans = [(first[s], last[e], lab) for s, e, lab in example.spans]
    return NerExample(tokens, spans)


def labels_of(examples: list[NerExample]) -> list[str]:
    """The sorted set of span labels."""
    return sorted({lab for ex in examples for _, _, lab in ex.spans})
