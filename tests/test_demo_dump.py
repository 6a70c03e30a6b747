"""The demo KB shipped in glinker/resources/demo: in sync with its TSV, well-formed, and true to Wikidata."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
DEMO = ROOT / "glinker" / "resources" / "demo"
TSV = DEMO / "entities.tsv"
DUMP = DEMO / "demo-dump.json"
QID = re.compile(r"Q[1-9][0-9]*")


def _load(name: str):
    module_name = f"glinker_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="module")
def maker():
    return _load("make_demo_dump")


@pytest.fixture(scope="module")
def checker():
    return _load("check_demo_dump")


@pytest.fixture(scope="module")
def dump_lines() -> list[str]:
    return DUMP.read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def dump_entities(dump_lines) -> list[dict]:
    body = dump_lines[1:-2]  # between "[" and "]", before the final newline
    return [json.loads(line[:-1] if line.endswith(",") else line) for line in body]


def test_generated_dump_is_in_sync_with_the_tsv(maker, tmp_path):
    out = tmp_path / "demo-dump.json"
    assert maker.main(["--tsv", str(TSV), "--out", str(out)]) == 0
    assert out.read_bytes() == DUMP.read_bytes(), "run: python scripts/make_demo_dump.py"
    assert maker.main(["--tsv", str(TSV), "--out", str(DUMP), "--check"]) == 0


def test_generation_is_deterministic_and_ignores_row_order(maker, tmp_path):
    header, *rows = TSV.read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled.tsv"
    shuffled.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")
    assert maker.render_dump(maker.read_tsv(shuffled)) == DUMP.read_bytes()


def test_check_mode_reports_a_stale_dump(maker, tmp_path):
    stale = tmp_path / "demo-dump.json"
    stale.write_bytes(DUMP.read_bytes().replace(b'"Arnold Schwarzenegger"', b'"Arnold"', 1))
    assert maker.main(["--tsv", str(TSV), "--out", str(stale), "--check"]) == 1
    assert maker.main(["--tsv", str(TSV), "--out", str(tmp_path / "missing.json"), "--check"]) == 1


def test_official_dump_layout(dump_lines):
    assert dump_lines[0] == "["
    assert dump_lines[-2] == "]" and dump_lines[-1] == ""  # "]" then a final newline
    body = dump_lines[1:-2]
    assert body, "no entities"
    assert all(line.endswith(",") for line in body[:-1])
    assert not body[-1].endswith(",")
    assert all(line.startswith('{"type":"item","id":"Q') for line in body)


def test_every_entity_has_the_required_keys(dump_entities):
    for ent in dump_entities:
        qid = ent["id"]
        assert list(ent) == ["type", "id", "labels", "descriptions", "aliases", "claims", "sitelinks"], qid
        assert ent["type"] == "item" and QID.fullmatch(qid), qid
        assert ent["labels"]["en"]["language"] == "en" and ent["labels"]["en"]["value"].strip(), qid
        assert ent["descriptions"]["en"]["language"] == "en" and ent["descriptions"]["en"]["value"].strip(), qid
        assert ent["aliases"] == {} or all(a["language"] == "en" and a["value"].strip()
                                           for a in ent["aliases"]["en"]), qid
        assert ent["sitelinks"] == {}
        assert set(ent["claims"]) <= {"P31", "P279"}, qid
        for prop, statements in ent["claims"].items():
            assert statements, qid
            for n, st in enumerate(statements):
                snak = st["mainsnak"]
                value = snak["datavalue"]["value"]
                assert st["type"] == "statement" and st["rank"] == "normal" and st["id"] == f"{qid}${prop}-{n}"
                assert snak["snaktype"] == "value" and snak["property"] == prop
                assert snak["datatype"] == "wikibase-item" and snak["datavalue"]["type"] == "wikibase-entityid"
                assert value["entity-type"] == "item" and QID.fullmatch(value["id"])
                assert value["numeric-id"] == int(value["id"][1:])


def test_qids_are_unique_well_formed_and_sorted(dump_entities):
    qids = [e["id"] for e in dump_entities]
    assert all(QID.fullmatch(q) for q in qids)
    assert len(set(qids)) == len(qids), [q for q, n in Counter(qids).items() if n > 1]
    assert qids == sorted(qids, key=lambda q: int(q[1:]))


def test_tsv_rows_are_valid(maker):
    entities = maker.read_tsv(TSV)
    assert 500 <= len(entities) <= 1000  # small enough to build in seconds on first use
    for e in entities:
        assert e.label and e.description and e.label.strip() == e.label
        assert "\t" not in e.description and "|" not in e.label
        assert e.description != e.label
        assert all(QID.fullmatch(t) for t in e.p31 + e.p279)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("Q1\tx\t\t\t\t\n", "header"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ01\tx\t\td\t\t\n", "malformed QID"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\tx\t\td\t\t\nQ1\ty\t\td\t\t\n", "duplicate QID"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\tx\t\t\t\t\n", "no description"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\t\t\td\t\t\n", "no label"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\tx\t\td\tP31\t\n", "malformed p31"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\tx\tX\td\t\t\n", "repeats its label"),
        ("qid\tlabel\taliases\tdescription\tp31\tp279\nQ1\tx\td\n", "columns"),
    ],
)
def test_malformed_tsv_is_rejected_with_a_line_number(maker, tmp_path, content, problem):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(maker.DemoTsvError, match=problem):
        maker.read_tsv(path)


def test_demo_covers_the_arnold_neighbourhood_and_homonyms(maker):
    entities = {e.qid: e for e in maker.read_tsv(TSV)}
    for qid in ["Q2685", "Q162255", "Q170564", "Q200804", "Q222018", "Q309003", "Q42574", "Q208214",
                "Q571822", "Q13298", "Q99", "Q65", "Q887010", "Q29468", "Q5", "Q11424", "Q6256", "Q515"]:
        assert qid in entities, qid
    assert {"Arnold", "Schwarzenegger", "The Governator"} <= set(entities["Q2685"].aliases)
    names = Counter(name.casefold() for e in entities.values() for name in (e.label, *e.aliases))
    for homonym in ["boston", "paris", "washington", "jordan", "apple", "amazon", "java", "mercury", "jaguar",
                    "georgia", "lincoln", "jackson", "columbia", "victoria", "cambridge"]:
        assert names[homonym] >= 2, homonym


def test_every_class_the_demo_names_is_an_entity_of_it(maker):
    """The reranker's type features read a candidate's class names from the KB: a P31 target missing from the
    demo KB leaves its entities without a type score, which the ranker, fitted where classes are present,
    reads as a type mismatch ("European Union" was left NIL for that)."""
    entities = {e.qid: e for e in maker.read_tsv(TSV)}
    missing = {(e.label, c) for e in entities.values() for c in e.p31 if c not in entities}
    assert not missing, sorted(missing)[:10]


def test_tsv_matches_the_arnold_slice(checker, maker):
    dump = checker.default_dump_path()
    if not dump.is_file():
        pytest.skip(f"shared data not found at {dump}: set GLINKER_DATA_DIR to check the demo KB against Wikidata")
    report = checker.check(TSV, dump)
    assert not report.label_mismatches, report.label_mismatches
    assert not report.class_warnings, report.class_warnings
    assert not report.description_warnings, report.description_warnings
    assert report.matched == report.verifiable
    assert report.verifiable >= 0.8 * report.total, f"only {report.verifiable}/{report.total} in the slice"


def test_slice_check_flags_a_wrong_label(checker, tmp_path):
    dump = tmp_path / "slice.json"
    dump.write_text('[\n{"type":"item","id":"Q2685","labels":{"en":{"language":"en","value":"Arnold Schwarzenegger"}},'
                    '"claims":{"P31":[{"mainsnak":{"snaktype":"value","property":"P31","datatype":"wikibase-item",'
                    '"datavalue":{"value":{"entity-type":"item","numeric-id":5,"id":"Q5"},'
                    '"type":"wikibase-entityid"}},"type":"statement","id":"Q2685$P31-0","rank":"normal"}]}}\n]\n',
                    encoding="utf-8")
    tsv = tmp_path / "demo.tsv"
    tsv.write_text("qid\tlabel\taliases\tdescription\tp31\tp279\n"
                   "Q2685\tArnold schwarzenegger\t\tactor\tQ5|Q11424\t\n"
                   "Q90\tParis\t\tFrench capital\t\t\n", encoding="utf-8")
    report = checker.check(tsv, dump)
    assert (report.total, report.verifiable, report.matched) == (2, 1, 0)
    assert len(report.label_mismatches) == 1 and "Q2685" in report.label_mismatches[0]
    assert len(report.class_warnings) == 1 and "Q11424" in report.class_warnings[0]
    assert checker.main(["--tsv", str(tsv), "--dump", str(dump)]) == 1
    assert checker.main(["--tsv", str(tsv), "--dump", str(tmp_path / "absent.json.gz")]) == 0
