"""Candidates ruled out by the mention's own words: a person's given name, a place qualifier."""

from __future__ import annotations

import pytest

from glinker.kb import KnowledgeBase
from glinker.rerank.compatibility import (
    Compatibility,
    PlaceIndex,
    common_noun_label,
    name_contradicts,
    name_numbers,
    number_contradicts,
    qualifier_contradicts,
    qualifier_of,
    singular_forms,
)
from glinker.rerank.nearby_places import NearbyPlaces, description_location
from glinker.types import Candidate, EntityRecord, Mention
from kb_build.build import build_kb

EMMANUEL = EntityRecord("Q3052772", "Emmanuel Macron", "French statesman",
                        ("Macron", "Emmanuel Jean-Michel Frédéric Macron"), ("Q5",))
PATRICK = EntityRecord("Q901541", "Patrick Schwarzenegger", "American actor",
                       ("Patrick Shriver", "Patrick Arnold Shriver Schwarzenegger"), ("Q5",))
JAMES = EntityRecord("Q42574", "James Cameron", "Canadian film director", ("Jim Cameron",), ("Q5",))
ARNOLD = EntityRecord("Q2685", "Arnold Schwarzenegger", "actor", ("Arnie", "Schwarzenegger"), ("Q5",))


@pytest.mark.parametrize("mention, record, ruled_out", [
    ("Brigitte Macron", EMMANUEL, True),               # another given name, same surname
    ("Arnold Schwarzenegger", PATRICK, True),          # a middle name is no given name
    ("Emmanuel Macron", EMMANUEL, False),
    ("President Macron", EMMANUEL, False),             # a title, not a given name
    ("President Emmanuel Macron", EMMANUEL, False),
    ("Macron", EMMANUEL, False),                       # one word: the rule says nothing
    ("J. Cameron", JAMES, False),                      # an initial
    ("Jim Cameron", JAMES, False),                     # the KB's own nickname
    ("Arnie Schwarzenegger", ARNOLD, False),           # a nickname the KB gives ("Arnie")... as given name
    ("Macron Foundation", EMMANUEL, False),            # not the surname position: no person's name
    ("Brigitte Macron", EntityRecord("Q1", "Emmanuel Macron", "", (), ("Q515",)), False),  # not a human
])
def test_name_contradiction(mention, record, ruled_out):
    assert name_contradicts(mention, record) is ruled_out


def test_qualifier_is_the_capitalised_words_after_a_comma():
    text = "He was born in Paris, Texas, and moved to Graz, a city."
    paris = Mention(15, 20, "Paris", "location", 0.9)
    graz = Mention(42, 46, "Graz", "location", 0.9)
    assert qualifier_of(paris, text) == "Texas"
    assert qualifier_of(graz, text) is None  # "a city" is no name
    assert qualifier_of(Mention(15, 27, "Paris, Texas", "location", 0.9), text) == "Texas"  # inside the span


@pytest.fixture(scope="module")
def places_kb(tmp_path_factory, tiny_detector):
    from conftest import make_entity, write_dump

    ents = [make_entity("Q30", "United States", "country in North America", ["USA", "United States of America"],
                        ["Q6256"], 99),
            make_entity("Q142", "France", "country in western Europe", [], ["Q6256"], 95),
            make_entity("Q145", "United Kingdom", "country in north-western Europe", ["UK"], ["Q6256"], 95),
            make_entity("Q21", "England", "country, part of the United Kingdom", [], ["Q3336843"], 90),
            make_entity("Q1439", "Texas", "state in the southern United States", ["Tex."], ["Q35657"], 80),
            make_entity("Q1603", "Kentucky", "state of the United States", [], ["Q35657"], 70),
            make_entity("Q90", "Paris", "capital and largest city of France", [], ["Q515"], 99),
            make_entity("Q3181341", "Paris", "county seat of Bourbon County, Kentucky, United States",
                        ["Paris, Kentucky"], ["Q1093829"], 10),
            make_entity("Q84", "London", "capital and largest city of the United Kingdom", [], ["Q515"], 99),
            make_entity("Q830149", "Paris", "city in Lamar County, Texas, United States", [], ["Q1093829"], 5),
            make_entity("Q112007", "Lamar County", "county in Texas, United States", [], ["Q47168"], 3),
            make_entity("Q230", "Georgia", "country in the Caucasus", [], ["Q6256"], 90),
            make_entity("Q1428", "Georgia", "state in the southeastern United States", [], ["Q35657"], 60),
            make_entity("Q23556", "Atlanta", "city in Fulton County, Georgia, United States", [], ["Q1093829"], 70)]
    root = tmp_path_factory.mktemp("places")
    build_kb(write_dump(root / "d.json", ents), root / "kb", tiny_detector, progress=False)
    return KnowledgeBase.open(root / "kb", expect_fingerprint=tiny_detector.fingerprint)


def test_qualifier_rules_out_places_of_another_division_or_country(places_kb):
    places = PlaceIndex(places_kb)
    get = places_kb.store.get
    assert qualifier_contradicts(places, "Texas", get("Q90"))          # Paris, France: another country
    assert qualifier_contradicts(places, "Texas", get("Q3181341"))     # Paris, Kentucky: another state
    assert not qualifier_contradicts(places, "Texas", get("Q830149"))  # the Texan Paris
    assert not qualifier_contradicts(places, "France", get("Q90"))
    # England names no country the KB reads as such, but its description names the United Kingdom
    assert not qualifier_contradicts(places, "England", get("Q84"))
    assert not qualifier_contradicts(places, "Jr.", get("Q90"))  # not a place: says nothing


def test_every_candidate_ruled_out_means_nil(places_kb):
    text = "The film Paris, Texas won."
    paris = Mention(9, 14, "Paris", "location", 0.9)
    cands = [Candidate("Q90", 0.9), Candidate("Q3181341", 0.5)]
    records = places_kb.store.get_many(["Q90", "Q3181341"])
    assert Compatibility(places_kb).ruled_out([paris], [cands], [text], records) == [[True, True]]
    assert Compatibility(places_kb, qualifiers=False).ruled_out([paris], [cands], [text], records) == [[False, False]]


def test_description_location_is_the_most_specific_place():
    assert description_location("county seat of Bourbon County, Kentucky, United States") == "Bourbon County"
    assert description_location("town in New Hampshire, USA") == "New Hampshire"
    assert description_location("capital and largest city of the United Kingdom") == "United Kingdom"
    assert description_location("American rock band") is None


PARIS_QIDS = ["Q90", "Q3181341", "Q830149"]  # France, Kentucky, Texas


def _nearby(kb, text, mention="Paris", chars=400):
    start = text.index(mention)
    records = [kb.store.get(q) for q in PARIS_QIDS]
    return NearbyPlaces(kb, chars).ruled_out(start, start + len(mention), text, records)


def test_a_county_named_nearby_rules_out_the_other_places_of_that_name(places_kb):
    text = "Paris is a small city in Lamar County, known for its replica of the Eiffel Tower."
    assert _nearby(places_kb, text) == [True, True, False]
    # the Kentucky Paris stays when the text names a place of its own description too
    text = "Paris is a small city in Lamar County, two days' drive from Kentucky."
    assert _nearby(places_kb, text) == [True, False, False]


def test_nearby_places_need_a_place_below_the_country_within_the_window(places_kb):
    # a state alone does not place a town whose description names its county; a country places nothing
    assert _nearby(places_kb, "Paris hosted the Texas delegation and the France team.") == [False] * 3
    far = "Paris was quiet. " + "Nothing else happened that day. " * 20 + "Lamar County voted."
    assert _nearby(places_kb, far, chars=400) == [False] * 3  # beyond the window: the same as alone
    assert _nearby(places_kb, far, chars=len(far)) == [True, True, False]


def test_compatibility_checks_nearby_places_unless_turned_off(places_kb):
    text = "Paris is a small city in Lamar County."
    paris = Mention(0, 5, "Paris", "location", 0.9)
    cands = [Candidate(q, 0.5) for q in PARIS_QIDS]
    records = places_kb.store.get_many(PARIS_QIDS)
    assert Compatibility(places_kb).ruled_out([paris], [cands], [text], records) == [[True, True, False]]
    assert Compatibility(places_kb, nearby_chars=None).ruled_out([paris], [cands], [text], records) == [[False] * 3]


def test_a_neighbouring_place_qualifies_a_mention_through_its_description(places_kb):
    """"Atlanta ... Georgia": Atlanta's description says "Georgia, United States", so the country Georgia (in no
    other country) is ruled out and the state stays; without Atlanta nearby, nothing is."""
    nearby = NearbyPlaces(places_kb)
    assert nearby.neighbour_qualifier("Georgia", ["Atlanta"]) == "United States"
    assert nearby.neighbour_qualifier("Georgia", ["Georgia", "Paris"]) is None  # itself, or no such description
    text = "Atlanta has been the capital of Georgia since 1868."
    atlanta, georgia = Mention(0, 7, "Atlanta", "city", 0.9), Mention(32, 39, "Georgia", "location", 0.9)
    cands = [[Candidate("Q23556", 0.9)], [Candidate("Q230", 0.9), Candidate("Q1428", 0.5)]]
    records = places_kb.store.get_many(["Q23556", "Q230", "Q1428"])
    assert Compatibility(places_kb).ruled_out([atlanta, georgia], cands, [text, text], records)[1] == [True, False]
    alone = "The capital of Georgia since 1868."
    assert Compatibility(places_kb).ruled_out([Mention(15, 22, "Georgia", "location", 0.9)], cands[1:], [alone],
                                              records) == [[False, False]]


def test_a_country_part_of_the_qualifying_country_is_not_ruled_out(places_kb):
    places = PlaceIndex(places_kb)
    georgia, england = places_kb.store.get("Q230"), places_kb.store.get("Q21")
    assert qualifier_contradicts(places, "United States", georgia, countries=True)  # Georgia, the country
    assert not qualifier_contradicts(places, "United Kingdom", england, countries=True)  # part of it
    # in the text, a country after a country is a list ("France, Georgia, England"), not a qualifier
    assert not qualifier_contradicts(places, "United States", georgia)
    text = "Teams from France, Georgia, England and the United States took part."
    mentions = [Mention(11, 17, "France", "country", 0.9), Mention(19, 26, "Georgia", "country", 0.9)]
    cands = [[Candidate("Q142", 0.9)], [Candidate("Q230", 0.9), Candidate("Q1428", 0.5)]]
    records = places_kb.store.get_many(["Q142", "Q230", "Q1428"])
    assert Compatibility(places_kb).ruled_out(mentions, cands, [text, text], records) == [[False], [False, False]]


LEOPOLD_II = EntityRecord("Q1", "Leopold II of Belgium", "King of the Belgians", ("Leopold II",), ("Q5",))
LEOPOLD_III = EntityRecord("Q2", "Leopold III of Belgium", "King of the Belgians", (), ("Q5",))
LECTURER = EntityRecord("Q1622444", "lecturer", "academic rank", (), ("Q4164871",))
TEACHER = EntityRecord("Q1622272", "university teacher", "person teaching at a university", ("lecturer",), ("Q28640",))
DIRECTORS = (EntityRecord("Q1", "director", "person who leads an area of an organisation"),
             EntityRecord("Q2", "director", "film director"))


def test_a_common_noun_names_the_concept_labelled_so():
    assert common_noun_label("lecturer", [TEACHER, LECTURER]) == 1
    assert common_noun_label("lecturers", [TEACHER, LECTURER]) == 1  # the plural names the same concept
    assert common_noun_label("lectures", [TEACHER, LECTURER]) is None  # no label is the words or their singular
    assert common_noun_label("Lecturer", [TEACHER, LECTURER]) is None  # capitalised: maybe a name, left to the ranker
    assert common_noun_label("director", [*DIRECTORS, TEACHER]) is None  # two concepts of that label: no choice
    assert common_noun_label("2024", [EntityRecord("Q3", "2024")]) is None  # no letter: no noun
    assert common_noun_label("lecturer", [None, LECTURER]) == 1


@pytest.mark.parametrize("text, mention, records, switch", [
    ("She was a lecturer in Paris.", Mention(10, 18, "lecturer", "occupation", 0.9), (TEACHER, LECTURER),
     "common_nouns"),  # "lecturer" is only an alias of "university teacher"
    ("Leopold III abdicated in 1951.", Mention(0, 11, "Leopold III", "person", 0.9), (LEOPOLD_II, LEOPOLD_III),
     "numbers"),
])
def test_a_compatibility_rule_rules_out_the_first_candidate_unless_turned_off(places_kb, text, mention, records,
                                                                              switch):
    cands = [[Candidate(r.qid, 0.9 - 0.4 * i) for i, r in enumerate(records)]]
    by_qid = {r.qid: r for r in records}
    assert Compatibility(places_kb).ruled_out([mention], cands, [text], by_qid) == [[True, False]]
    assert Compatibility(places_kb, **{switch: False}).ruled_out([mention], cands, [text], by_qid) == [[False, False]]


@pytest.mark.parametrize("plural, singulars", [
    ("years", ["year"]), ("cities", ["city", "citi", "citie"]),
    ("boxes", ["box", "boxe"]), ("women", ["woman"]), ("firemen", ["fireman"]),
    ("press", []), ("bus", []), ("heart ailments", ["heart ailment"]), ("man", []),
])
def test_singular_forms_of_english_plurals(plural, singulars):
    assert set(singular_forms(plural)) == set(singulars)


def test_a_plural_common_noun_names_the_concept_its_singular_labels():
    year = EntityRecord("Q577", "year", "orbital period of the Earth")
    age = EntityRecord("Q24564698", "years old", "unit for age", ("years",))
    assert common_noun_label("years", [age, year]) == 1
    assert common_noun_label("years old", [age, year]) == 0  # the words themselves first


@pytest.mark.parametrize("name, roman, digits", [
    ("Louis XIV", {"XIV"}, set()),
    ("Terminator 2: Judgment Day", set(), {"2"}),
    ("Pope John Paul II.", {"II"}, set()),
    ("I, Robot", set(), set()),  # the first word is the name itself
    ("2012 Summer Olympics", set(), set()),
    ("Uncanny X-Men", set(), set()),  # whole words only
    ("Washington, D.C.", set(), set()),
    ("Baltimore, MD", set(), set()),  # numerals past XXXIX read as abbreviations
    ("Louis XVIII", {"XVIII"}, set()),
    ("Boeing 747-400", set(), set()),
    ("UEFA Euro 02004", set(), {"2004"}),
])
def test_the_numbers_of_a_name(name, roman, digits):
    assert name_numbers(name) == (frozenset(roman), frozenset(digits))


T3 = EntityRecord("Q3", "Terminator 3: Rise of the Machines", "2003 film", ("T3",))
T1 = EntityRecord("Q4", "The Terminator", "1984 film", ("Terminator",))
WW2 = EntityRecord("Q5", "World War II", "1939-1945 war", ("Second World War", "WWII"))


@pytest.mark.parametrize("mention, record, ruled_out", [
    ("Leopold III", LEOPOLD_II, True),
    ("Leopold III", LEOPOLD_III, False),
    ("Terminator 2", T3, True),
    ("Terminator 2", T1, False),  # a label without a number is left to the ranker
    ("Terminator", T3, False),  # so is a mention without one
    ("World War I", WW2, True),
    ("World War 2", WW2, False),  # digits against a Roman label: not the same kind of number
    ("Euro 2004", EntityRecord("Q6", "UEFA Euro 2008", "", ("Euro 2008",)), True),
    ("Euro 2004", EntityRecord("Q7", "UEFA Euro 2004", "", ("Euro 2004",)), False),
])
def test_a_different_number_rules_a_candidate_out(mention, record, ruled_out):
    assert number_contradicts(mention, record) is ruled_out
