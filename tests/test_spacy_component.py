"""The spaCy component: nlp.add_pipe("glinker") through the spacy_factories entry point, demo KB."""

from __future__ import annotations

import pytest

spacy = pytest.importorskip("spacy")

TEXT = "Arnold Schwarzenegger starred in The Terminator. Angela Merkel visited Paris."


@pytest.fixture(scope="module")
def nlp():
    import importlib.metadata

    if not any(e.name == "glinker" for e in importlib.metadata.entry_points(group="spacy_factories")):
        pytest.skip("the spacy_factories entry point is not installed: pip install -e .")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("glinker", config={"kb_dir": None, "candidates": 2})  # found through the entry point
    return nlp


def test_ents_have_types_and_qids(nlp):
    doc = nlp(TEXT)
    ents = {e.text: e for e in doc.ents}
    assert ents["Arnold Schwarzenegger"].kb_id_ == "Q2685" and ents["Arnold Schwarzenegger"].label_ == "person"
    assert ents["Angela Merkel"].kb_id_ == "Q567"
    arnold = ents["Arnold Schwarzenegger"]
    assert "Austrian" in arnold._.glinker_description and 0 < arnold._.glinker_score <= 1
    assert arnold._.glinker_candidates[0]["qid"] == "Q2685" and len(arnold._.glinker_candidates) <= 2
    assert len(list(doc.sents)) == 2


def test_pipe_batches_and_nil(nlp):
    texts = ["Obama was born in Hawaii.", "", "Zorblax Quentworth met Angela Merkel."]
    docs = list(nlp.pipe(texts, batch_size=2))
    assert [d.text for d in docs] == texts
    assert {e.kb_id_ for e in docs[0].ents} >= {"Q76", "Q782"}
    assert docs[1].ents == ()
    by_text = {e.text: e.kb_id_ for e in docs[2].ents}
    assert by_text.get("Angela Merkel") == "Q567"
    assert by_text.get("Zorblax Quentworth") == ""  # NIL


def test_char_offsets_expand_to_tokens_and_overlaps_resolve(nlp):
    from glinker.spacy_component import set_entities
    from glinker.types import LinkedMention

    doc = nlp.make_doc("Schwarzeneggers film")
    set_entities(doc, [LinkedMention(0, 6, "Schwar", "person", 0.5, "Q2685", link_score=0.9),
                       LinkedMention(3, 15, "warzeneggers", "person", 0.5, None, link_score=0.2)])
    assert [(e.text, e.kb_id_) for e in doc.ents] == [("Schwarzeneggers", "Q2685")]


def test_displacy_links_to_wikidata(nlp):
    from spacy import displacy

    html = displacy.render(nlp(TEXT), style="ent", options={"kb_url_template": "https://www.wikidata.org/wiki/{}"})
    assert "https://www.wikidata.org/wiki/Q2685" in html
