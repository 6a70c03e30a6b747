#!/usr/bin/env python3
"""Write the demo knowledge base as an official Wikidata JSON dump.

Source of truth: ``glinker/resources/demo/entities.tsv`` (one entity per line,
tab-separated, with a header)::

    qid  label  aliases  description  p31  p279

``aliases``, ``p31`` and ``p279`` are ``|``-separated and may be empty. Labels,
aliases and class QIDs are Wikidata facts (CC0); descriptions are our own words.

Output: ``glinker/resources/demo/demo-dump.json`` in the exact shape of the
official dumps: ``[`` on the first line, then one compact JSON entity per line
followed by ``,`` (none after the last entity), then ``]``. Entities are written
in QID order, so the same TSV always gives a byte-identical file. The file is
written to a temporary file next to the target and moved into place with
``os.replace``.

Usage::

    python scripts/make_demo_dump.py            # regenerate
    python scripts/make_demo_dump.py --check    # exit 1 if the dump is out of date

Checking the TSV against the real Wikidata slice is ``scripts/check_demo_dump.py``.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "glinker" / "resources" / "demo"
DEFAULT_TSV = DEMO_DIR / "entities.tsv"
DEFAULT_OUT = DEMO_DIR / "demo-dump.json"

HEADER = ("qid", "label", "aliases", "description", "p31", "p279")
QID_RE = re.compile(r"Q[1-9][0-9]*")
LANG = "en"


class DemoTsvError(ValueError):
    """The TSV is malformed; the message names the file and line."""


@dataclass(frozen=True)
class DemoEntity:
    qid: str
    label: str
    aliases: tuple[str, ...]
    description: str
    p31: tuple[str, ...]
    p279: tuple[str, ...]
    line: int

    @property
    def number(self) -> int:
        return int(self.qid[1:])


def _split(field: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in field.split("|") if part.strip())


def read_tsv(path: Path = DEFAULT_TSV) -> list[DemoEntity]:
    """Parse and validate the TSV; raise DemoTsvError on the first problem found."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or tuple(lines[0].rstrip("\r").split("\t")) != HEADER:
        raise DemoTsvError(f"{path}:1: header must be {chr(9).join(HEADER)!r}")
    entities: list[DemoEntity] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines[1:], start=2):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) != len(HEADER):
            raise DemoTsvError(f"{path}:{lineno}: expected {len(HEADER)} tab-separated columns, got {len(fields)}")
        qid, label, aliases, description, p31, p279 = (f.strip() for f in fields)
        where = f"{path}:{lineno}"
        if not QID_RE.fullmatch(qid):
            raise DemoTsvError(f"{where}: malformed QID {qid!r}")
        if qid in seen:
            raise DemoTsvError(f"{where}: duplicate QID {qid} (first on line {seen[qid]})")
        seen[qid] = lineno
        if not label:
            raise DemoTsvError(f"{where}: {qid} has no label")
        if not description:
            raise DemoTsvError(f"{where}: {qid} has no description")
        classes = {"p31": _split(p31), "p279": _split(p279)}
        for column, targets in classes.items():
            for target in targets:
                if not QID_RE.fullmatch(target):
                    raise DemoTsvError(f"{where}: malformed {column} QID {target!r} for {qid}")
            if len(set(targets)) != len(targets):
                raise DemoTsvError(f"{where}: repeated {column} QID for {qid}")
        alias_list = _split(aliases)
        folded = {label.casefold()}
        for alias in alias_list:
            if alias.casefold() in folded:
                raise DemoTsvError(f"{where}: alias {alias!r} of {qid} repeats its label or another alias")
            folded.add(alias.casefold())
        entities.append(DemoEntity(qid, label, alias_list, description,
                                   classes["p31"], classes["p279"], lineno))
    if not entities:
        raise DemoTsvError(f"{path}: no entities")
    return entities


def _statement(subject: str, prop: str, target: str, n: int) -> dict:
    """One item-valued statement in the dump's shape (ids as in the shared arnold slice)."""
    return {
        "mainsnak": {
            "snaktype": "value",
            "property": prop,
            "datatype": "wikibase-item",
            "datavalue": {
                "value": {"entity-type": "item", "numeric-id": int(target[1:]), "id": target},
                "type": "wikibase-entityid",
            },
        },
        "type": "statement",
        "id": f"{subject}${prop}-{n}",
        "rank": "normal",
    }


def entity_json(entity: DemoEntity) -> dict:
    """The dump record of one entity (key order as in the official dumps)."""
    def text(value: str) -> dict:
        return {"language": LANG, "value": value}

    claims: dict[str, list[dict]] = {}
    if entity.p31:
        claims["P31"] = [_statement(entity.qid, "P31", t, i) for i, t in enumerate(entity.p31)]
    if entity.p279:
        claims["P279"] = [_statement(entity.qid, "P279", t, i) for i, t in enumerate(entity.p279)]
    return {
        "type": "item",
        "id": entity.qid,
        "labels": {LANG: text(entity.label)},
        "descriptions": {LANG: text(entity.description)},
        "aliases": {LANG: [text(a) for a in entity.aliases]} if entity.aliases else {},
        "claims": claims,
        "sitelinks": {},
    }


def render_dump(entities: list[DemoEntity]) -> bytes:
    """The whole dump file: '[', one entity per line with trailing commas, ']'."""
    ordered = sorted(entities, key=lambda e: e.number)
    lines = [json.dumps(entity_json(e), ensure_ascii=False, separators=(",", ":")) for e in ordered]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file in the same directory and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV, help=f"source TSV (default: {DEFAULT_TSV})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"dump to write (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if --out differs from what the TSV generates")
    args = parser.parse_args(argv)
    try:
        entities = read_tsv(args.tsv)
    except DemoTsvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    data = render_dump(entities)
    if args.check:
        current = args.out.read_bytes() if args.out.is_file() else None
        if current != data:
            print(f"{args.out} is out of date: run python scripts/make_demo_dump.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(entities)} entities)")
        return 0
    write_atomic(args.out, data)
    print(f"wrote {len(entities)} entities to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
