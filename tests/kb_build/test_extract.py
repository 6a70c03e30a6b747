"""Tests for kb_build.extractor and kb_build.extract: per-entity extraction, filters, batches and worker
processes."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import pickle
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest

import kb_build.dump as dump_module
import kb_build.entity_schema as entity_schema
import kb_build.extract as extract_module
from glinker.errors import DumpError
from glinker.settings import data_dir
from glinker.types import EntityRecord
from kb_build.dump import iter_lines
from kb_build.extract import (
    BatchResult,
    Extractor,
    FilterConfig,
    MalformedEntity,
    extract_batch,
    iter_extracted,
    names_popularity,
)

# every filter off, every entity type kept
KEEP_ALL = FilterConfig(**{f.name: f.name.startswith("keep_") for f in dataclasses.fields(FilterConfig)})


def shared_file(relative: str) -> Path:
    path = data_dir() / relative
    if not path.exists():
        pytest.skip(f"shared data not found at {path}: set GLINKER_DATA_DIR")
    return path


def texts(**values: str) -> dict:
    return {lang: {"language": lang, "value": v} for lang, v in values.items()}


def alias_map(**values: list[str]) -> dict:
    return {lang: [{"language": lang, "value": v} for v in vs] for lang, vs in values.items()}


def statement(prop: str, target: str | None, rank: str = "normal", snaktype: str = "value") -> dict:
    snak: dict = {"snaktype": snaktype, "property": prop, "datatype": "wikibase-item"}
    if target is not None:
        value = {"entity-type": "property" if target[0] == "P" else "item", "numeric-id": int(target[1:]), "id": target}
        snak["datavalue"] = {"value": value, "type": "wikibase-entityid"}
    return {"mainsnak": snak, "type": "statement", "id": f"X${prop}", "rank": rank}


def old_statement(prop: str, numeric_id: int, entity_type: str = "item") -> dict:
    """2015 format: no "id" next to "numeric-id"."""
    datavalue = {"type": "wikibase-entityid", "value": {"entity-type": entity_type, "numeric-id": numeric_id}}
    snak = {"snaktype": "value", "property": prop, "datavalue": datavalue, "datatype": "wikibase-item"}
    return {"rank": "normal", "mainsnak": snak, "type": "statement"}


def item(qid: str, labels=None, descriptions=None, aliases=None, p31=(), p279=(), sitelinks=0, **extra) -> dict:
    claims: dict = {}
    if p31:
        claims["P31"] = [statement("P31", t) if isinstance(t, str) else t for t in p31]
    if p279:
        claims["P279"] = [statement("P279", t) if isinstance(t, str) else t for t in p279]
    sites = {f"site{i}wiki": {"site": f"site{i}wiki", "title": qid} for i in range(sitelinks)}
    entity = {"type": "item", "id": qid, "labels": labels or {}, "descriptions": descriptions or {}}
    return {**entity, "aliases": aliases or {}, "claims": claims, "sitelinks": sites, **extra}


def line(entity: dict) -> bytes:
    return json.dumps(entity, ensure_ascii=False).encode()


def test_item_fields():
    entity = item(
        "Q100",
        labels=texts(en="Boston", de="Boston"),
        descriptions=texts(en="capital of Massachusetts", fr="ville"),
        aliases=alias_map(en=["Beantown", "Boston", "The Hub", "Beantown"]),
        p31=["Q1549591", "Q515", "Q1549591"],
        p279=["Q486972"],
        sitelinks=3,
    )
    rec = Extractor().extract(line(entity))
    assert rec == EntityRecord(
        qid="Q100",
        label="Boston",
        description="capital of Massachusetts",
        aliases=("Beantown", "The Hub"),  # label and duplicates removed, order kept
        types=("Q1549591", "Q515"),
        superclasses=("Q486972",),
        sitelinks=3,
        popularity=3.0,
        row=-1,
    )


def test_old_format_numeric_ids_and_empty_lists():
    entity = {
        "type": "item",
        "aliases": [],
        "labels": {"en": {"language": "en", "value": "Universe"}},
        "descriptions": [],
        "sitelinks": [],
        "id": "Q1",
        "claims": {"P31": [old_statement("P31", 1454986)], "P279": [old_statement("P279", 31, "property")]},
    }
    rec = Extractor().extract(line(entity))
    assert rec.label == "Universe" and rec.description == "" and rec.aliases == ()
    assert rec.types == ("Q1454986",)
    assert rec.superclasses == ("P31",)
    assert rec.sitelinks == 0


def test_empty_list_labels_and_claims():
    entity = {"type": "item", "id": "Q7", "labels": [], "descriptions": [], "aliases": [], "claims": []}
    assert Extractor().extract(line(entity)) == "no_label"
    rec = Extractor(filters=KEEP_ALL).extract(line(entity))
    assert rec == EntityRecord(qid="Q7", label="")


def test_novalue_somevalue_and_deprecated_statements_skipped():
    p31 = [
        statement("P31", None, snaktype="novalue"),
        statement("P31", None, snaktype="somevalue"),
        statement("P31", "Q4167410", rank="deprecated"),  # deprecated disambiguation: not a filter hit
        statement("P31", "Q5", rank="preferred"),
        statement("P31", "Q6", rank="normal"),
    ]
    rec = Extractor().extract(line(item("Q9", labels=texts(en="x"), p31=p31)))
    assert rec.types == ("Q5", "Q6")  # all non-deprecated ranks, not only the truthy preferred one


def test_entity_id_value_without_any_id_is_malformed():
    bad = statement("P31", "Q5")
    del bad["mainsnak"]["datavalue"]["value"]["id"]
    del bad["mainsnak"]["datavalue"]["value"]["numeric-id"]
    with pytest.raises(MalformedEntity, match="numeric-id"):
        Extractor().extract(line(item("Q9", labels=texts(en="x"), p31=[bad])))


@pytest.mark.parametrize(
    "p31, reason",
    [
        ("Q4167410", "disambiguation"),
        ("Q13442814", "scholarly_article"),
        ("Q4167836", "category_or_template"),
        ("Q11266439", "category_or_template"),
        ("Q17633526", "category_or_template"),
        ("Q13406463", "category_or_template"),
    ],
)
def test_type_filters(p31, reason):
    entity = line(item("Q42", labels=texts(en="x"), p31=["Q5", p31]))
    assert Extractor().extract(entity) == reason
    rec = Extractor(filters=KEEP_ALL).extract(entity)
    assert isinstance(rec, EntityRecord) and rec.types == ("Q5", p31)


def test_properties_lexemes_and_other_types():
    description = "that class of which this subject is a particular example"
    labels, aliases = texts(en="instance of"), alias_map(en=["is a"])
    prop = item("P31", labels, texts(en=description), aliases, p31=["Q18616576"], type="property")
    lexeme = {"type": "lexeme", "id": "L7", "lemmas": texts(en="cat"), "lexicalCategory": "Q1084", "claims": {}}
    mediainfo = {"type": "mediainfo", "id": "M5", "labels": texts(en="photo")}
    ex = Extractor()
    assert ex.extract(line(prop)) == "property"
    assert ex.extract(line(lexeme)) == "lexeme"
    assert ex.extract(line(mediainfo)) == "other_type"
    keep = Extractor(filters=KEEP_ALL)
    expected = EntityRecord(qid="P31", label="instance of", description=description, aliases=("is a",),
                            popularity=names_popularity(2))  # no sitelinks, no table: two names
    assert keep.extract(line(prop)) == dataclasses.replace(expected, types=("Q18616576",))
    assert keep.extract(line(lexeme)).label == "cat"
    assert keep.extract(line(mediainfo)) == "other_type"
    # "type" missing: inferred from the id prefix
    assert ex.extract(b'{"id":"P9","labels":{"en":{"value":"x"}}}') == "property"


def test_language_fallback_mul_and_aliases():
    entity = item(
        "Q1726",
        labels=texts(en="Munich", de="München", mul="Muenchen"),
        descriptions=texts(en="capital of Bavaria", de="Landeshauptstadt Bayerns"),
        aliases=alias_map(de=["Minga", "München"], en=["Minga", "Munich, Germany"], fr=["Munique"], mul=["MUC"]),
    )
    rec = Extractor(languages=("de", "en")).extract(line(entity))
    assert rec.label == "München"
    assert rec.description == "Landeshauptstadt Bayerns"
    # per language in order: de aliases, en label + aliases, then mul label + aliases; fr not listed
    assert rec.aliases == ("Minga", "Munich", "Munich, Germany", "Muenchen", "MUC")

    only_en = item("Q2", labels=texts(en="Earth", de=""), descriptions=texts(de="", en="planet"))
    rec = Extractor(languages=("de", "en")).extract(line(only_en))
    assert (rec.label, rec.description, rec.aliases) == ("Earth", "planet", ())

    only_mul = item("Q3", labels=texts(mul="Homo sapiens", fr="Humain"))
    rec = Extractor(languages=("de", "en")).extract(line(only_mul))
    assert rec.label == "Homo sapiens" and rec.aliases == ()
    assert Extractor(languages=("fr",)).extract(line(only_mul)).aliases == ("Homo sapiens",)
    assert Extractor(languages=("de",)).extract(line(item("Q4", labels=texts(fr="x")))) == "no_label"


def test_popularity_table_overrides_sitelinks():
    entity = line(item("Q5", labels=texts(en="human"), sitelinks=4))
    assert Extractor().extract(entity).popularity == 4.0
    assert Extractor(popularity={"Q5": 0.25}).extract(entity).popularity == 0.25
    rec = Extractor(popularity={"Q6": 1.0}).extract(entity)
    assert rec.popularity == 0.0 and rec.sitelinks == 4


def test_without_table_or_sitelinks_the_most_named_homonym_ranks_first():
    famous = Extractor().extract(line(item("Q1", labels=texts(en="Paris"),
                                           aliases=alias_map(en=["City of Light", "Paris, France"]))))
    obscure = Extractor().extract(line(item("Q2", labels=texts(en="Paris"))))
    linked = Extractor().extract(line(item("Q3", labels=texts(en="Paris"), sitelinks=1)))
    assert 0 < obscure.popularity < famous.popularity < linked.popularity == 1.0


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (b'{"id": "Q1", "labels": ', "truncated"),
        (b"not json", "malformed"),
        (b'{"labels": {}}', "missing required field `id`"),
        (b'{"id": 42}', "$.id"),
        (b'{"id": "Q1", "labels": {"en": {"value": 3}}}', "$.labels.en.value"),
        (b'{"id": "Q1", "labels": {"en": "x"}}', "$.labels.en"),
        (b"[1, 2]", "Expected `object`"),
        (b'{"id": ""}', "empty 'id'"),
    ],
)
def test_malformed_lines(bad, fragment):
    with pytest.raises(MalformedEntity) as info:
        Extractor().extract(bad)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_extractor_pickles():
    ex = Extractor(languages=("fr", "en"), filters=KEEP_ALL, popularity={"Q1": 2.0})
    clone = pickle.loads(pickle.dumps(ex))
    entity = line(item("Q1", labels=texts(en="a", fr="b")))
    assert clone.extract(entity) == ex.extract(entity)
    assert clone.languages == ("fr", "en") and clone.filters == KEEP_ALL


# --- batches, files, workers -----------------------------------------------------


def sample_entities() -> list[bytes]:
    return [
        line(item("Q1", labels=texts(en="one"), p31=["Q5"], sitelinks=2)),
        line(item("Q2", labels=texts(de="zwei"))),  # no_label for ("en",)
        line(item("Q3", labels=texts(en="disambig"), p31=["Q4167410"])),
        b'{"type": "item", "id": "Q4", "labels": {"en": ',  # malformed, line 5 of the file
        line(item("Q5", labels=texts(en="five"), aliases=alias_map(en=["V"]))),
        line({"type": "property", "id": "P1", "labels": texts(en="p")}),
        line(item("Q6", labels=texts(en="scholarly"), p31=["Q13442814"])),
    ] + [line(item(f"Q{i}", labels=texts(en=f"e{i}"), p31=["Q5"])) for i in range(100, 160)]


def write_dump(path: Path, entities: list[bytes]) -> Path:
    data = b"[\n" + b",\n".join(entities) + b"\n]\n"
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".bz2"):
        data = bz2.compress(data)
    path.write_bytes(data)
    return path


def collect(results) -> BatchResult:
    total = BatchResult()
    for result in results:
        total.records.extend(result.records)
        total.filtered.update(result.filtered)
        total.malformed.extend(result.malformed)
    return total


@pytest.mark.parametrize("suffix", ["json", "json.gz", "json.bz2"])
def test_iter_extracted_reports_malformed_line_and_keeps_going(tmp_path, suffix):
    path = write_dump(tmp_path / f"d.{suffix}", sample_entities())
    total = collect(iter_extracted(path, Extractor(), batch_lines=4))
    assert [r.qid for r in total.records][:2] == ["Q1", "Q5"]
    assert len(total.records) == 62
    assert total.filtered == Counter(no_label=1, disambiguation=1, property=1, scholarly_article=1)
    assert len(total.malformed) == 1
    line_no, message = total.malformed[0]
    assert line_no == 5 and "invalid entity JSON" in message


def test_extract_batch_and_batch_result_pickle():
    batch = list(enumerate(sample_entities(), 2))
    result = extract_batch(Extractor(), batch)
    clone = pickle.loads(pickle.dumps(result))
    assert clone == result
    assert isinstance(clone.filtered, Counter) and isinstance(clone.records[0], EntityRecord)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_give_same_records_as_in_process(tmp_path, start_method):
    path = write_dump(tmp_path / "d.json.gz", sample_entities() * 5)
    ex = Extractor(languages=("en", "de"), popularity={"Q1": 0.5})
    one = collect(iter_extracted(path, ex, workers=1, batch_lines=16))
    two = collect(iter_extracted(path, ex, workers=2, batch_lines=16, start_method=start_method))
    assert (two.records, two.filtered, two.malformed) == (one.records, one.filtered, one.malformed)
    assert len(one.malformed) == 5 and len(one.records) == 5 * 63  # "de" keeps Q2


def test_workers_keep_a_bounded_number_of_blocks_in_flight(tmp_path, monkeypatch):
    path = write_dump(tmp_path / "d.json", sample_entities() * 20)
    monkeypatch.setattr(dump_module, "BLOCK_SIZE", 512)  # ~5 lines per block
    real = extract_module.iter_line_blocks
    pulled = []

    def counting(*args, **kwargs):
        for block in real(*args, **kwargs):
            pulled.append(block)
            yield block

    monkeypatch.setattr(extract_module, "iter_line_blocks", counting)
    results = iter_extracted(path, Extractor(), workers=2, batch_lines=5, start_method="fork")
    next(results)
    assert len(pulled) <= 2 * 2  # not the whole dump (~270 blocks)
    results.close()  # terminates the pool without reading further


@pytest.mark.parametrize("block_size", [64, 700, 1 << 22])
def test_workers_batches_cover_every_line_whatever_the_block_size(tmp_path, monkeypatch, block_size):
    # Blocks shorter than a line, a few lines, the whole file: same records, same line numbers.
    path = write_dump(tmp_path / "d.json.gz", sample_entities() * 3)
    monkeypatch.setattr(dump_module, "BLOCK_SIZE", block_size)
    one = collect(iter_extracted(path, Extractor(), workers=1, batch_lines=7))
    results = list(iter_extracted(path, Extractor(), workers=2, batch_lines=7, start_method="fork"))
    two = collect(results)
    assert (two.records, two.filtered, two.malformed) == (one.records, one.filtered, one.malformed)
    assert [m[0] for m in two.malformed] == [5, 72, 139]
    assert all(len(b.records) + sum(b.filtered.values()) + len(b.malformed) <= 7 for b in results)


def test_fast_record_equals_constructed_record():
    fields = ("Q1", "one", "first", ("uno",), ("Q5",), ("Q2",), 3, 0.5)
    fast = entity_schema.new_record(fields)
    assert fast == EntityRecord(*fields) and vars(fast) == vars(EntityRecord(*fields))
    assert hash(fast) == hash(EntityRecord(*fields)) and fast.row == -1
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.label = "x"


def test_iter_extracted_missing_dump(tmp_path):
    with pytest.raises(DumpError, match="dump not found"):
        next(iter_extracted(tmp_path / "none.json.gz", Extractor(), workers=2, start_method="fork"))


# --- shared data -----------------------------------------------------------------


def test_arnold_dump_extracts_every_line():
    path = shared_file("wikidata/arnold/arnold-dump.json.gz")
    total = collect(iter_extracted(path, Extractor(), workers=2))
    assert not total.malformed
    assert len(total.records) + sum(total.filtered.values()) == 66_784
    assert total.filtered["property"] == 5_035
    arnold = next(r for r in total.records if r.qid == "Q2685")
    assert arnold.label == "Arnold Schwarzenegger"
    assert "Q5" in arnold.types
    assert arnold.description


def test_opentapioca_sample_in_french():
    path = shared_file("wikidata/opentapioca/sample_wikidata_items.json.bz2")
    total = collect(iter_extracted(path, Extractor(languages=("fr", "en"), filters=KEEP_ALL)))
    assert not total.malformed and len(total.records) == 100
    belgium = next(r for r in total.records if r.qid == "Q31")
    assert belgium.label == "Belgique"
    assert belgium.description == "État fédéral d'Europe occidentale"
    assert "Belgium" in belgium.aliases  # the English label
    assert belgium.sitelinks == 319 and belgium.popularity == 319.0
    assert "Q6256" in belgium.types


@pytest.mark.parametrize(
    "relative, lines",
    [("wikidata/opentapioca/short_stream.json.bz2", 635), ("wikidata/wdtk/sample-dump-20150815.json.gz", 101)],
)
def test_shared_samples_have_no_malformed_lines(relative, lines):
    path = shared_file(relative)
    total = collect(iter_extracted(path, Extractor(filters=KEEP_ALL)))
    assert not total.malformed
    assert len(total.records) + sum(total.filtered.values()) == lines


def test_wdtk_old_dump_types():
    path = shared_file("wikidata/wdtk/sample-dump-20150815.json.gz")
    records = {r.qid: r for r in collect(iter_extracted(path, Extractor(filters=KEEP_ALL))).records}
    assert records["Q8"].types == ("Q331769", "Q9415")  # built from numeric-id only
    assert records["P19"].types == ("Q18608756", "Q18608871", "Q18635217")
    assert all(r.label == "" for r in records.values())  # this sample's labels are empty


# --- oracle: qwikidata's accessors on the raw JSON --------------------------------


def test_agrees_with_qwikidata_on_arnold_sample():
    entity_module = pytest.importorskip("qwikidata.entity")
    path = shared_file("wikidata/arnold/arnold-dump.json.gz")
    ex = Extractor(languages=("en",), filters=KEEP_ALL)
    seen = Counter()
    # Every 50th line: the dump lists its 5,035 properties first, then the items.
    for _, raw in islice(iter_lines(path), 0, None, 50):
        data = json.loads(raw)
        is_property = data["type"] == "property"
        oracle = (entity_module.WikidataProperty if is_property else entity_module.WikidataItem)(data)
        rec = ex.extract(raw)
        assert isinstance(rec, EntityRecord)
        assert rec.qid == oracle.entity_id
        assert rec.label == oracle.get_label("en")
        assert rec.description == oracle.get_description("en")
        assert list(rec.aliases) == [a for a in dict.fromkeys(oracle.get_aliases("en")) if a != rec.label]
        for prop, ours in (("P31", rec.types), ("P279", rec.superclasses)):
            # We keep every non-deprecated statement; qwikidata's truthy group keeps only the
            # preferred ones when there are any, so it must be a subset of ours.
            claims = [c for c in oracle.get_claim_group(prop) if c.rank != "deprecated"]
            expected = [c.mainsnak.datavalue.value["id"] for c in claims if c.mainsnak.snaktype == "value"]
            assert list(ours) == list(dict.fromkeys(expected))
            truthy = oracle.get_truthy_claim_group(prop)
            assert {c.mainsnak.datavalue.value["id"] for c in truthy if c.mainsnak.snaktype == "value"} <= set(ours)
        seen.update(property=is_property, item=not is_property, aliases=bool(rec.aliases), p279=bool(rec.superclasses))
    assert seen["property"] >= 100 and seen["item"] >= 1200
    assert seen["aliases"] >= 100 and seen["p279"] >= 20
