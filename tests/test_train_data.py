"""Readers of the NER training formats and the tag -> label mapping."""

from __future__ import annotations

import json

import pytest

from glinker.errors import InputError
from glinker.settings import data_dir
from glinker.train.data import (
    NerExample,
    detect_format,
    labels_of,
    natural_label,
    read_examples,
    resplit,
)
from glinker.train.recipe import check_trainable


def test_conll_tab_bio_with_docstart(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text(
        "-DOCSTART-\tO\n\nEU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO\n\n"
        "Peter\tB-PER\nBlackburn\tI-PER\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n",
        encoding="utf-8",
    )
    assert detect_format(f) == "conll"
    exs = read_examples(f)
    assert [e.tokens for e in exs] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn", "in", "New", "York"]]
    assert exs[0].spans == [(0, 0, "organization"), (2, 2, "miscellaneous")]
    assert exs[1].spans == [(0, 1, "person"), (3, 4, "location")]


def test_conll_space_iob1(tmp_path):
    # WikiGold: space-separated, IOB1 (I- starts an entity; B- only between two of the same type)
    f = tmp_path / "wikigold.conll.txt"
    f.write_text("010 I-MISC\nis O\nThe I-ORG\nMad I-ORG\nB-Boys B-ORG\n\nx O\n", encoding="utf-8")
    exs = read_examples(f, "conll")
    assert exs[0].spans == [(0, 0, "miscellaneous"), (2, 3, "organization"), (4, 4, "organization")]
    assert exs[1] == NerExample(["x"], [])


def test_conllu(tmp_path):
    f = tmp_path / "val.conllu"
    f.write_text("0\tHer\tO\n1\tvisit\tO\n2\tto\tO\n3\tTuvalu\tB-LOC\n\n0\tAl\tB-PER\n1\tGore\tI-PER\n",
                 encoding="utf-8")
    assert detect_format(f) == "conllu"
    exs = read_examples(f)
    assert exs[0].tokens == ["Her", "visit", "to", "Tuvalu"] and exs[0].spans == [(3, 3, "location")]
    assert exs[1].spans == [(0, 1, "person")]


def test_gliner_json_char_offsets(tmp_path):
    f = tmp_path / "dev.json"
    rows = [{"sentence": "Here , SVM-based error rate is low .",
             "entities": [{"name": "SVM-based", "type": "algorithm", "pos": [7, 16]},
                          {"name": "error rate", "type": "programlang", "pos": [17, 27]}]}]
    f.write_text(json.dumps(rows), encoding="utf-8")
    assert detect_format(f) == "gliner_json"
    (ex,) = read_examples(f)
    assert ex.tokens == ["Here", ",", "SVM-based", "error", "rate", "is", "low", "."]
    assert ex.spans == [(2, 2, "algorithm"), (3, 4, "programming language")]
    (raw,) = read_examples(f, label_map=None)
    assert raw.spans[1][2] == "programlang"


def test_gliner_train_format(tmp_path):
    f = tmp_path / "train.json"
    rows = [{"tokenized_text": ["A", "message", "from", "Katarzyna", "on", "September", "1"],
             "ner": [[3, 3, "Person"], [5, 6, "Date"], [9, 12, "Bad"]]}]
    f.write_text(json.dumps(rows), encoding="utf-8")
    assert detect_format(f) == "gliner_train"
    (ex,) = read_examples(f)
    assert ex.spans == [(3, 3, "person"), (5, 6, "date")]  # out-of-range span dropped


@pytest.mark.parametrize(
    ("tag", "label"),
    [("PER", "person"), ("ORG", "organization"), ("organisation", "organization"), ("LOC", "location"),
     ("MISC", "miscellaneous"), ("creative-work", "creative work"), ("corporation", "corporation"),
     ("programlang", "programming language"), ("musicalartist", "musical artist"),
     ("politicalparty", "political party"), ("workOfArt", "work of art"), ("job_title", "job title"),
     ("Publisher", "publisher")],
)
def test_natural_label(tag, label):
    assert natural_label(tag) == label


def test_resplit_maps_spans():
    ex = resplit(NerExample(["The", "U.S.", "Army", "won"], [(1, 2, "organization")]))
    assert ex.tokens == ["The", "U", ".", "S", ".", "Army", "won"]
    assert ex.spans == [(1, 5, "organization")]


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_examples(tmp_path / "missing.txt")
    bad = tmp_path / "x.json"
    bad.write_text('[{"foo": 1}]', encoding="utf-8")
    with pytest.raises(InputError, match="neither GLiNER format"):
        read_examples(bad)
    with pytest.raises(InputError, match="evaluation split"):
        check_trainable("ner/crossner/ai/train.txt")
    with pytest.raises(InputError, match="evaluation split"):
        check_trainable("ner/conll2003/test.txt")
    check_trainable("ner/wikineural_en/val.conllu")
    check_trainable("ner/conll2003/train.txt")


def test_shared_corpora_read():
    root = data_dir() / "ner"
    if not root.is_dir():
        pytest.skip(f"shared NER data not found at {root} (set GLINKER_DATA_DIR)")
    for rel, labels in [("wikigold/wikigold.conll.txt", {"person", "organization", "location", "miscellaneous"}),
                        ("gliner_format/CrossNER_AI/dev.json", None)]:
        path = root / rel
        if not path.exists():
            continue
        exs = read_examples(path)
        assert exs and all(0 <= s <= e < len(x.tokens) for x in exs for s, e, _ in x.spans)
        if labels:
            assert set(labels_of(exs)) == labels


def _item(qid, label, p31=(), aliases=(), description=None):
    ent = {"type": "item", "id": qid, "labels": {"en": {"language": "en", "value": label}},
           "aliases": {"en": [{"language": "en", "value": a} for a in aliases]},
           "claims": {"P31": [{"mainsnak": {"snaktype": "value", "property": "P31",
                                            "datavalue": {"value": {"id": c}, "type": "wikibase-entityid"}}}
                              for c in p31]}}
    if description:
        ent["descriptions"] = {"en": {"language": "en", "value": description}}
    return json.dumps(ent)


def test_weak_labels_from_a_tiny_dump(tmp_path):
    from glinker.train.weak import add_weak_labels, description_type, load_class_index

    assert description_type("1994 American crime film directed by Quentin Tarantino") == "crime film"
    assert description_type("Swedish mathematician") == "mathematician"
    assert description_type("river in Serbia") == "river"
    assert description_type("former U.S. Secretary of State") is None
    lines = [
        _item("Q5", "human"), _item("Q6256", "country"), _item("Q3624078", "sovereign state"),
        _item("Q515", "city"), _item("Q1", "County of Texas"),
        _item("Q183", "Germany", ["Q3624078", "Q6256", "Q1"], ["FRG"], "country in Central Europe"),
        _item("Q90", "Paris", ["Q515"], description="capital of France"),
        _item("Q99", "Paris", ["Q6256"]),  # homonym, less popular
        _item("Q2685", "Arnold Schwarzenegger", ["Q5"], description="Austrian-American actor and politician"),
    ]
    dump = tmp_path / "dump.json"
    dump.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    pop = tmp_path / "pop.tsv"
    pop.write_text("qid\tpagerank\tin_degree\nQ90\t0.5\t3\nQ99\t0.1\t1\n", encoding="utf-8")
    index = load_class_index(dump, pop)
    assert index["Germany"] == ["sovereign state", "country"]  # proper-noun class dropped
    assert index["FRG"] == ["sovereign state", "country"]
    assert index["Paris"] == ["city"]  # most popular bearer
    assert "Arnold Schwarzenegger" not in index  # "human" adds nothing over "person"
    with_desc = load_class_index(dump, pop, descriptions=True)
    assert with_desc["Arnold Schwarzenegger"] == ["actor"]
    exs = [NerExample(["Arnold", "Schwarzenegger", "left", "Germany", "for", "Paris"],
                      [(0, 1, "person"), (3, 3, "location"), (5, 5, "location")])]
    (out,), counts = add_weak_labels(exs, with_desc, max_per_span=2)
    assert (0, 1, "actor") in out.spans and (3, 3, "country") in out.spans and (5, 5, "capital") in out.spans
    assert with_desc["Germany"] == ["country", "sovereign state"]  # description phrase first, no duplicates
    assert counts["actor"] == 1 and len(exs[0].spans) == 3  # input untouched
    (one,), _ = add_weak_labels(exs, with_desc, max_per_span=1)
    assert (5, 5, "capital") in one.spans and (5, 5, "city") not in one.spans


def test_concept_spans_never_overlap_gold_or_each_other():
    from glinker.train.weak import add_concept_spans

    index = {"machine learning": ["field of study"], "learning": ["academic discipline"], "jazz": ["music genre"],
             "music": ["music genre"], "Jazz": ["band"]}
    ex = NerExample("Ng taught machine learning and played jazz music in Jazz City".split(),
                    [(0, 0, "person"), (8, 9, "location")])
    (out,), counts = add_concept_spans([ex], index)
    added = sorted(set(out.spans) - set(ex.spans))
    # longest match wins; "music" is a stop word; the gold span "Jazz City" is left alone
    assert added == [(2, 3, "field of study"), (6, 6, "music genre")]
    assert counts == {"field of study": 1, "music genre": 1}


def test_role_nouns_from_a_tiny_dump(tmp_path):
    from glinker.train.weak import ROLE_LABEL, add_concept_spans, load_role_index, plural

    assert [plural(w) for w in ("poet", "prime minister", "chairman", "secretary", "boss", "day")] == \
        ["poets", "prime ministers", "chairmen", "secretaries", "bosses", "days"]
    lines = [
        _item("Q28640", "profession"), _item("Q4164871", "position"), _item("Q56019", "military rank"),
        _item("Q1", "river"),
        _item("Q49757", "poet", ["Q28640"]), _item("Q121594", "professor", ["Q28640", "Q4164871"]),
        _item("Q19100", "captain", ["Q56019"]), _item("Q4022", "creek", ["Q1"]),
        _item("Q30185", "Mayor of London", ["Q4164871"]),  # a proper name, not a role noun
        _item("Q9", "actress", ["Q28640"], ["lady actor"]),  # aliases are not read
    ]
    dump = tmp_path / "dump.json"
    dump.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    index = load_role_index(dump)
    assert {"poet", "poets", "Poet", "professor", "Professors", "captain", "actress", "actresses"} <= set(index)
    assert not {"creek", "Mayor of London", "mayor of london", "lady actor", "actresss"} & set(index)
    assert all(v == [ROLE_LABEL] for v in index.values())
    ex = NerExample("Professor Ng met two poets and a captain".split(), [(1, 1, "person")])
    (out,), counts = add_concept_spans([ex], index)
    assert sorted(set(out.spans) - set(ex.spans)) == [(0, 0, ROLE_LABEL), (4, 4, ROLE_LABEL), (7, 7, ROLE_LABEL)]


def test_silver_merge_rules():
    from glinker.train.silver import merge_silver

    ex = NerExample("The 1996 Olympics opened in Atlanta on 19 July".split(),
                    [(1, 2, "miscellaneous"), (5, 5, "location")])
    ents = [(1, 2, "EVENT"), (5, 5, "GPE"), (7, 8, "DATE"), (2, 3, "ORG"), (0, 2, "EVENT")]
    out, counts = merge_silver(ex, ents)
    assert (1, 2, "event") in out.spans  # finer label on an exact gold span
    assert (7, 8, "date") in out.spans  # new span where the corpus has none
    assert not any(lab == "organization" for *_, lab in out.spans)  # ORG/GPE add nothing
    assert (0, 2, "event") not in out.spans  # partial overlap with gold: the corpus's boundaries win
    assert counts == {"extra:event": 1, "new:date": 1}


def test_silver_labels_from_spacy():
    pytest.importorskip("spacy")
    from glinker.train.silver import add_silver_labels

    ex = NerExample("Barack Obama was born on 4 August 1961 in Honolulu .".split(), [(0, 1, "person")])
    (out,), counts = add_silver_labels([ex])
    assert (5, 7, "date") in out.spans  # the date, which the gold does not annotate
    assert out.spans[0] == (0, 1, "person") and len(ex.spans) == 1


def test_synthetic_texts_from_a_tiny_dump(tmp_path):
    from glinker.train.synthetic import synthetic_examples

    occupation = json.loads(_item("Q2", "Jack"))  # a one-word label of an unpopular item: never typed in text
    lines = [
        _item("Q5", "human"), _item("Q6256", "country"), _item("Q515", "city"), _item("Q11424", "film"),
        _item("Q82955", "politician"), _item("Q1", "County of Texas"),
        _item("Q183", "Germany", ["Q6256", "Q1"], description="country in Central Europe"),
        _item("Q64", "Berlin", ["Q515"], description="capital and largest city of Germany"),
        _item("Q7", "French", ["Q6256"]),  # used as an adjective below: not typed there
        _item("Q9", "Cloud Atlas", ["Q11424"], description="2012 film directed by Tom Tykwer"),
        _item("Q10", "Tom Tykwer", ["Q5"], description="German film director"),
        _item("Q11", "Ilir Meta", ["Q5"], description="French politician"),
        _item("Q12", "lower case thing", ["Q6256"], description="a concept"),  # not a subject: lower-case
        _item("Q13", "No Description", ["Q515"]),  # not a subject: no description
        _item("Q188451", "music genre"), _item("Q8341", "jazz", ["Q188451"], description="style of music"),
        json.dumps(occupation),
    ]
    dump = tmp_path / "dump.json"
    dump.write_text("[\n" + ",\n".join(lines) + ',\n{"type": "item", "id": "Q99", broken\n]\n', encoding="utf-8")
    pop = tmp_path / "pop.tsv"
    pop.write_text("qid\tpagerank\tin_degree\nQ183\t0.9\t9\nQ7\t0.8\t5\nQ64\t0.5\t3\nQ10\t0.2\t1\nQ2\t0.0\t0\n",
                   encoding="utf-8")
    exs, counts = synthetic_examples(dump, pop, per_text=10)
    assert len(exs) == 1
    ex = exs[0]
    text = " ".join(ex.tokens)
    typed = {(" ".join(ex.tokens[s : e + 1]), lab) for s, e, lab in ex.spans}
    assert "Cloud Atlas is a 2012 film directed by Tom Tykwer ." in text
    assert "lower case thing" not in text and "No Description" not in text
    assert ("jazz", "music genre") in typed and not any(name == "jazz" and lab == "style" for name, lab in typed)
    assert ("Cloud Atlas", "film") in typed
    assert ("Tom Tykwer", "film director") in typed and ("Tom Tykwer", "person") in typed  # in a description too
    assert ("Germany", "country") in typed  # description head first; the proper-noun class is dropped
    assert not any(lab == "County of Texas" for _, lab in typed)
    assert ("Ilir Meta", "politician") in typed
    assert not any(name == "French" for name, _ in typed)  # "French politician": an adjective
    for s, e, _ in ex.spans:
        assert 0 <= s <= e < len(ex.tokens) and e - s < 12
    assert counts["person"] == sum(1 for *_, lab in ex.spans if lab == "person") == 3  # Tykwer twice, Meta once
