"""Readers for the wide-type NER corpora: MultiCoNER II, the biomedical TSVs, LitBank, GUM, re3d, BTC.

Every reader returns ``(examples, skipped)``: the sentences it read as :class:`NerExample` (spans carry
the corpus' own tag, e.g. ``"MusicalWork"``; :mod:`glinker.train.label_names` turns tags into names) and
a :class:`collections.Counter` of what it left out and why, so a changed file format shows up as a
count rather than as silently missing data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from glinker.errors import InputError
from glinker.model.inputs import split_words
from glinker.train.data import NerExample, _spans_from_bio

Read = tuple[list[NerExample], Counter]


def _verbatim(tag: str) -> str:
    return tag


def _bio_blocks(lines: Iterable[str], skipped: Counter, *, comment: str | None = None, min_cols: int = 2):
    """Sentences of ``token ... tag`` lines separated by blank lines; yields (tokens, tags)."""
    tokens: list[str] = []
    tags: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if comment and line.startswith(comment):
            skipped["comment lines"] += 1
            continue
        if not line.strip():
            if tokens:
                yield tokens, tags
            tokens, tags = [], []
            continue
        parts = [p for p in re.split(r"[\t ]", line) if p != ""]
        if len(parts) < min_cols:
            skipped["lines without a tag column"] += 1
            continue
        if parts[0] == "-DOCSTART-":
            skipped["document markers"] += 1
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    if tokens:
        yield tokens, tags


# Words that stay lower case inside an English proper name ("Academy of Motion Picture Arts and Sciences").
_NAME_PARTICLES = frozenset("of the and de la le du des von van der den in on at for a an to y e di da del et".split())


def truecase(tokens: list[str], spans: list[tuple[int, int, str]]) -> list[str]:
    """Tokens of a lower-cased sentence with English capitalisation restored where it is certain.

    The words of a named span are capitalised (particles after its first word stay lower case) and so is
    the sentence's first word; other words keep their case. Without this, a corpus written in lower case
    teaches that capitalisation says nothing about names, and the model fires on common words in cased text.
    """
    out = list(tokens)
    for s, e, _ in spans:
        for i in range(s, e + 1):
            t = out[i]
            if i > s and t in _NAME_PARTICLES:
                continue
            out[i] = t[:1].upper() + t[1:]
    if out:
        out[0] = out[0][:1].upper() + out[0][1:]
    return out


def read_multiconer(path: str | Path, restore_case: bool = True) -> Read:
    """MultiCoNER II CoNLL: ``# id ... domain=en`` lines, then ``token _ _ BIO-tag`` lines.

    The English sentences are all lower case; ``restore_case`` capitalises names and sentence starts
    (:func:`truecase`).
    """
    skipped: Counter = Counter()
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for t, g in _bio_blocks(f, skipped, comment="# id ", min_cols=2):
            spans = _spans_from_bio(g, _verbatim)
            out.append(NerExample(truecase(t, spans) if restore_case else t, spans))
    return out, skipped


def read_bio_tsv(path: str | Path) -> Read:
    """The biomedical ``token TAB BIO-tag`` files (``bio/<corpus>-IOB/train.tsv``) and BTC's CoNLL."""
    skipped: Counter = Counter()
    with Path(path).open(encoding="utf-8") as f:
        out = [NerExample(t, _spans_from_bio(g, _verbatim)) for t, g in _bio_blocks(f, skipped)]
    return out, skipped


_DETERMINERS = frozenset("the a an this that these those his her its their my your our some any no every".split())


def is_proper_name(tokens: list[str]) -> bool:
    """Whether a span reads as a proper name ("Sir Walter Elliot") rather than a nominal ("a man who ...").

    A capitalised word past the first one, or a capitalised first word that is not a determiner.
    Sentence-initial nominals ("The old man") are therefore nominal, which is what we want.
    """
    if not tokens:
        return False
    if any(t[:1].isupper() for t in tokens[1:]):
        return True
    return tokens[0][:1].isupper() and tokens[0].lower() not in _DETERMINERS


def read_litbank_tsv(path: str | Path, nominal: bool = False) -> Read:
    """LitBank's nested TSV: ``token TAB layer1 TAB layer2 ...`` (BIO per nesting layer).

    Every layer gives spans (nested ones included). ``nominal=False`` keeps proper names only
    (:func:`is_proper_name`): LitBank also types nominal mentions ("a man who ..."), which name
    detectors are not asked for.
    """
    skipped: Counter = Counter()
    out: list[NerExample] = []
    with Path(path).open(encoding="utf-8") as f:
        rows: list[list[str]] = []
        for raw in [*f, ""]:
            line = raw.rstrip("\r\n")
            if line.strip():
                parts = line.split("\t")
                if len(parts) < 2:
                    skipped["lines without a tag column"] += 1
                    continue
                rows.append(parts)
                continue
            if not rows:
                continue
            tokens = [r[0] for r in rows]
            layers = max(len(r) for r in rows) - 1
            spans = set()
            for k in range(1, layers + 1):
                tags = [(r[k] if k < len(r) and r[k] else "O") for r in rows]
                for s, e, tag in _spans_from_bio(tags, _verbatim):
                    if nominal or is_proper_name(tokens[s:e + 1]):
                        spans.add((s, e, tag))
                    else:
                        skipped["nominal mentions"] += 1
            out.append(NerExample(tokens, sorted(spans)))
            rows = []
    return out, skipped


_GUM_OPEN = re.compile(r"\(([a-z]+)-(\d+)(?:-([^()|]+))?")
_GUM_CLOSE = re.compile(r"([a-z]+)-(\d+)(?:-[^()|]+)?\)")
_SENTENCE_END = frozenset({".", "!", "?"})


def read_gum_conll(path: str | Path, named_only: bool = True, max_words: int = 60) -> Read:
    """GUM's coreference CoNLL: ``idx TAB token TAB brackets`` per token, ``# begin document`` lines.

    A bracket ``(person-3-Barack_Obama`` opens mention 3 of type person whose named entity has the
    Wikipedia title given; ``person-3-Barack_Obama)`` closes it. ``named_only`` keeps mentions with a
    title (named entities); the others are pronouns and nominals. Documents are cut into sentences at
    ``. ! ?`` (the file has no sentence breaks), at most ``max_words`` words each.
    """
    skipped: Counter = Counter()
    out: list[NerExample] = []
    tokens: list[str] = []
    spans: list[tuple[int, int, str]] = []
    open_: dict[str, list[tuple[int, str, bool]]] = {}

    def flush():
        nonlocal tokens, spans, open_
        if tokens:
            if open_ and any(open_.values()):
                skipped["mentions across a sentence cut"] += sum(len(v) for v in open_.values())
            out.append(NerExample(tokens, sorted(set(spans))))
        tokens, spans, open_ = [], [], {}

    with Path(path).open(encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if line.startswith("#"):
                flush()
                continue
            if not line.strip():
                flush()
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                skipped["lines without a mention column"] += 1
                continue
            i = len(tokens)
            tokens.append(parts[1])
            col = parts[2]
            for m in _GUM_OPEN.finditer(col):
                open_.setdefault(m.group(2), []).append((i, m.group(1), bool(m.group(3))))
            # a one-token mention "(abstract-1)" opens and closes on the same line
            for m in _GUM_CLOSE.finditer(col):
                stack = open_.get(m.group(2))
                if not stack:
                    skipped["unmatched closing brackets"] += 1
                    continue
                start, typ, named = stack.pop()
                if named or not named_only:
                    spans.append((start, i, typ))
                else:
                    skipped["unnamed mentions"] += 1
            if (parts[1] in _SENTENCE_END and not any(open_.values())) or len(tokens) >= max_words:
                flush()
    flush()
    return out, skipped


def _json_records(path: Path) -> list[dict]:
    """A JSON array, or one JSON object a line (re3d's export)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not valid JSON ({exc})") from None
    return rows


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def read_re3d(folder: str | Path) -> Read:
    """One re3d source folder (or its ``documents.json``): ``documents.json`` (text) and ``entities.json``.

    Texts are cut into sentences; entity character offsets are mapped onto the words of
    :func:`split_words`. An entity whose offsets do not match its text, or that crosses a sentence
    cut, is skipped and counted.
    """
    folder = Path(folder)
    if folder.is_file():  # the documents.json of the folder
        folder = folder.parent
    skipped: Counter = Counter()
    docs = {d["_id"]: d["text"] for d in _json_records(folder / "documents.json")}
    ents: dict[str, list[dict]] = {}
    for e in _json_records(folder / "entities.json"):
        ents.setdefault(e.get("documentId"), []).append(e)
    out: list[NerExample] = []
    for doc_id, text in docs.items():
        cuts = [0] + [m.end() for m in _SENT_SPLIT.finditer(text)] + [len(text)]
        doc_ents = ents.pop(doc_id, [])
        for a, b in zip(cuts, cuts[1:]):
            words = split_words(text[a:b])
            if not words.tokens:
                continue
            spans = []
            for e in doc_ents:
                s, t = int(e["begin"]), int(e["end"])
                if not (a <= s < b):
                    continue
                if t > b:
                    skipped["entities across a sentence cut"] += 1
                    continue
                if text[s:t] != e.get("value", text[s:t]):
                    skipped["entities whose offsets do not match their text"] += 1
                    continue
                idx = [w for w in range(len(words.tokens)) if words.starts[w] < t - a and words.ends[w] > s - a]
                if idx:
                    spans.append((idx[0], idx[-1], str(e["type"])))
            out.append(NerExample(list(words.tokens), _longest_first(spans, skipped)))
    skipped["entities of unknown documents"] += sum(len(v) for v in ents.values())
    return out, +skipped


def _longest_first(spans: list[tuple[int, int, str]], skipped: Counter) -> list[tuple[int, int, str]]:
    """Flat spans: re3d keeps several overlapping readings ("Shia" / "Shia Arab"); the longest wins."""
    kept: list[tuple[int, int, str]] = []
    for s, e, tag in sorted(set(spans), key=lambda x: (x[0] - x[1], x[0])):
        if any(s <= ke and ks <= e for ks, ke, _ in kept):
            skipped["overlapping readings"] += 1
            continue
        kept.append((s, e, tag))
    return sorted(kept)


READERS = {
    "multiconer": read_multiconer,
    "bio_tsv": read_bio_tsv,
    "litbank": read_litbank_tsv,
    "gum": read_gum_conll,
    "re3d": read_re3d,
}


def read_corpus(fmt: str, path: str | Path) -> Read:
    """Read one file (or, for ``re3d``, one source folder) in format ``fmt``."""
    if fmt not in READERS:
        raise InputError(f"unknown corpus format {fmt!r}: use one of {', '.join(READERS)}")
    path = Path(path)
    if not path.exists():
        raise InputError(f"NER data not found: {path}")
    return READERS[fmt](path)
