#!/usr/bin/env python3
"""Check the demo KB's TSV against the real Wikidata slice in the shared data.

For every entity of ``glinker/resources/demo/entities.tsv`` whose QID is in the
arnold slice (``$GLINKER_DATA_DIR/wikidata/arnold/arnold-dump.json.gz``):

* its label must equal the slice's English label, case-sensitively
  (a mismatch is an error: exit status 1);
* each P31 (and P279) QID it lists should be among that entity's P31 (P279)
  targets in the slice (extras are reported as warnings);
* its description should not be the slice's English description word for word
  (our descriptions are written by us; reported as a warning).

Entities absent from the slice are counted but cannot be verified here.
When the shared data is missing the check is skipped (exit status 0).

Usage::

    python scripts/check_demo_dump.py [--tsv PATH] [--dump PATH] [--strict]

``GLINKER_DATA_DIR`` defaults to ``../shared/data`` relative to the repository
root. ``--strict`` turns warnings into failures. Standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SLICE_RELPATH = Path("wikidata") / "arnold" / "arnold-dump.json.gz"
_ID_RE = re.compile(rb'"id"\s*:\s*"(Q[0-9]+)"')


def _load_maker():
    """scripts/make_demo_dump.py as a module (this file may be run or imported from anywhere)."""
    name = "glinker_make_demo_dump"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "make_demo_dump.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def default_dump_path() -> Path:
    """$GLINKER_DATA_DIR/wikidata/arnold/arnold-dump.json.gz (GLINKER_DATA_DIR defaults to ../shared/data)."""
    env = os.environ.get("GLINKER_DATA_DIR")
    data_dir = Path(env).expanduser() if env else (REPO_ROOT / ".." / "shared" / "data").resolve()
    return data_dir / SLICE_RELPATH


@dataclass
class SliceEntity:
    label: str | None
    description: str | None
    p31: tuple[str, ...]
    p279: tuple[str, ...]


@dataclass
class Report:
    total: int = 0
    verifiable: int = 0
    matched: int = 0
    label_mismatches: list[str] = field(default_factory=list)
    class_warnings: list[str] = field(default_factory=list)
    description_warnings: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self.class_warnings + self.description_warnings

    def ok(self, strict: bool = False) -> bool:
        return not self.label_mismatches and not (strict and self.warnings)


def _targets(claims: dict, prop: str) -> tuple[str, ...]:
    out = []
    for statement in claims.get(prop) or ():
        value = (statement.get("mainsnak") or {}).get("datavalue", {}).get("value")
        if isinstance(value, dict) and value.get("id"):
            out.append(value["id"])
    return tuple(out)


def _english(entity: dict, key: str) -> str | None:
    texts = entity.get(key)
    if isinstance(texts, dict) and isinstance(texts.get("en"), dict):
        return texts["en"].get("value")
    return None


def read_slice(path: Path, wanted: set[str]) -> dict[str, SliceEntity]:
    """The wanted items of a dump (gzip or plain), parsing only their lines."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    found: dict[str, SliceEntity] = {}
    with opener(path, "rb") as fh:
        for raw in fh:
            match = _ID_RE.search(raw, 0, 200)
            if match is None or match.group(1).decode() not in wanted:
                continue
            line = raw.strip()
            if line.endswith(b","):
                line = line[:-1]
            entity = json.loads(line)
            qid = entity.get("id")
            if entity.get("type") != "item" or qid not in wanted:
                continue
            claims = entity.get("claims") or {}
            found[qid] = SliceEntity(_english(entity, "labels"), _english(entity, "descriptions"),
                                     _targets(claims, "P31"), _targets(claims, "P279"))
    return found


def check(tsv: Path, dump: Path) -> Report:
    """Compare the TSV with the slice at dump (which must exist)."""
    entities = _load_maker().read_tsv(tsv)
    found = read_slice(dump, {e.qid for e in entities})
    report = Report(total=len(entities))
    for entity in entities:
        ref = found.get(entity.qid)
        if ref is None:
            report.unverifiable.append(entity.qid)
            continue
        report.verifiable += 1
        if entity.label == ref.label:
            report.matched += 1
        else:
            report.label_mismatches.append(f"{entity.qid}: label {entity.label!r} != slice label {ref.label!r}")
        for prop, mine, theirs in (("P31", entity.p31, ref.p31), ("P279", entity.p279, ref.p279)):
            extra = [t for t in mine if t not in theirs]
            if extra:
                report.class_warnings.append(
                    f"{entity.qid} ({entity.label}): {prop} {', '.join(extra)} not among the slice's "
                    f"{prop} targets [{', '.join(theirs) or 'none'}]")
        if ref.description and entity.description.strip().casefold() == ref.description.strip().casefold():
            report.description_warnings.append(
                f"{entity.qid} ({entity.label}): description is the slice's own text; write it in our words")
    return report


def main(argv: list[str] | None = None) -> int:
    maker = _load_maker()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsv", type=Path, default=maker.DEFAULT_TSV, help="demo TSV (default: %(default)s)")
    parser.add_argument("--dump", type=Path, default=None,
                        help="Wikidata slice (default: $GLINKER_DATA_DIR/wikidata/arnold/arnold-dump.json.gz)")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    args = parser.parse_args(argv)
    dump = args.dump if args.dump is not None else default_dump_path()
    if not dump.is_file():
        print(f"skipped: shared data not found at {dump} (set GLINKER_DATA_DIR or pass --dump)")
        return 0
    try:
        report = check(args.tsv, dump)
    except maker.DemoTsvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in report.label_mismatches:
        print(f"ERROR   {line}")
    for line in report.warnings:
        print(f"WARNING {line}")
    share = report.verifiable / report.total if report.total else 0.0
    print(f"{report.total} entities, {report.verifiable} verifiable in {dump.name} ({share:.1%}), "
          f"{report.matched} labels matched, {len(report.label_mismatches)} label mismatches, "
          f"{len(report.class_warnings)} class warnings, {len(report.description_warnings)} description warnings")
    return 0 if report.ok(args.strict) else 1


if __name__ == "__main__":
    sys.exit(main())
