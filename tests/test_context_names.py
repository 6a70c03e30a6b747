"""The context_names feature: description names found around the mention."""

from __future__ import annotations

from glinker.rerank.context_names import context_name_scores, description_names
from glinker.types import Candidate, EntityRecord, Mention

NH = EntityRecord("Q2310637", "Lisbon", "town in Grafton County, New Hampshire, United States")
PT = EntityRecord("Q597", "Lisbon", "capital city of Portugal")
BLANK = EntityRecord("Q1", "Lisbon", "")
RECORDS = {r.qid: r for r in (NH, PT, BLANK)}
CANDS = [Candidate("Q597", 0.0), Candidate("Q2310637", 0.0), Candidate("Q1", 0.0)]


def _scores(text: str, start: int, end: int, chars: int = 400) -> list[float]:
    m = Mention(start, end, text[start:end], "location", 0.9)
    return context_name_scores([m], [CANDS], [text], RECORDS, chars)[0]


def test_description_names_are_its_capitalised_words():
    assert description_names("town in Grafton County, New Hampshire, United States") == {
        "Grafton", "County", "New", "Hampshire", "United", "States"}
    assert description_names("capital city of Portugal") == {"Portugal"}
    assert description_names("a I b") == frozenset()


def test_the_place_the_text_names_scores_higher():
    text = "Lisbon is a small town in Grafton County, New Hampshire, with barely two thousand residents."
    pt, nh, blank = _scores(text, 0, 6)
    assert nh == 4 / 6 and pt == 0.0 and blank == 0.0
    text = "Lisbon is the capital of Portugal and its largest city."
    pt, nh, _ = _scores(text, 0, 6)
    assert pt == 1.0 and nh == 0.0


def test_window_is_bounded_and_leaves_out_the_mention():
    far = "Lisbon is lovely. " + "x " * 400 + "Portugal."
    assert _scores(far, 0, 6, chars=100)[0] == 0.0  # Portugal is named, but far away
    assert _scores(far, 0, 6, chars=len(far))[0] == 1.0
    # the mention's own words do not count: "Portugal" as the mention says nothing about its context
    assert _scores("Portugal won.", 0, 8)[0] == 0.0
    # a paragraph scores the same alone and inside a long document
    para = "Lisbon is a small town in Grafton County, New Hampshire."
    filler = "Portugal and Lisbon. " + "and so on " * 10
    long = filler * 200 + para + " " + filler * 200
    start = long.index(para)
    assert _scores(para, 0, 6, chars=40) == _scores(long, start, start + 6, chars=40)


def test_offsets_outside_the_text_score_zero():
    m = Mention(50, 56, "Lisbon", "location", 0.9)
    assert context_name_scores([m, m], [CANDS, []], ["short", "short"], RECORDS, 100) == [[0.0] * 3, []]
