"""A short form of a person's name resolved to the full name before it, in the pipeline and in kept-link scoring."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from glinker.kb import KnowledgeBase
from glinker.rerank.name_rule import NameRule
from glinker.resolution import NameResolver, PronounResolver, ResolverChain
from glinker.resolution.names import is_short_form, name_antecedents
from glinker.types import Candidate, LinkDecision, Mention
from kb_build.build import build_kb


@pytest.fixture(scope="module")
def kb(tmp_path_factory, tiny_detector):
    from conftest import BOSTON, write_dump

    root = tmp_path_factory.mktemp("names")
    build_kb(write_dump(root / "boston.json", BOSTON), root / "kb", tiny_detector, progress=False)
    return KnowledgeBase.open(root / "kb", expect_fingerprint=tiny_detector.fingerprint)


@pytest.mark.parametrize("short, full, expected", [
    ("Schwarzenegger", "Arnold Schwarzenegger", True),        # surname
    ("Schwarzenegger's", "Arnold Schwarzenegger", True),      # possessive
    ("Arnold", "Arnold Schwarzenegger", True),                # given name
    ("van Gogh", "Vincent van Gogh", True),                   # two-word surname, lower-case particle
    ("Alois", "Arnold Alois Schwarzenegger", False),          # a middle name is no short form
    ("Arnold Schwarzenegger", "Arnold Schwarzenegger", False),  # the same length: a name of its own
    ("he", "Arnold Schwarzenegger", False),
    ("Minister", "the Prime Minister", False),                # a lower-case start is no name
    ("Adams", "Douglas Adams Memorial Trust Fund", False),    # not its last words
])
def test_short_forms(short, full, expected):
    assert is_short_form(short, full) is expected


def test_the_closest_linked_person_before_the_short_form_wins():
    text = "Jane Fonda won , and Henry Fonda won ; Fonda smiled . Fonda Corp. sued Fonda"
    spans = [(0, 10, "Jane Fonda"), (21, 32, "Henry Fonda"), (39, 44, "Fonda"), (54, 59, "Fonda")]
    assert [text[s:e] for s, e, _ in spans] == [t for *_, t in spans]
    linked = ["QJ", "QH", "QX", None]
    persons = {"QJ", "QH"}.__contains__
    assert name_antecedents(spans, linked, persons, 1000) == [None, None, 1, 1]
    # Henry's link is NIL: Jane is the closest linked person
    assert name_antecedents(spans, ["QJ", None, "QX", None], persons, 1000) == [None, None, 0, 0]
    # not a person: no antecedent; beyond the window: none
    assert name_antecedents(spans, linked, {"QJ"}.__contains__, 1000) == [None, None, 0, 0]
    assert name_antecedents(spans, linked, persons, 10) == [None, None, 1, None]
    # any order in, the same answer; a full name after the short form is none of its antecedents
    assert name_antecedents(spans[2:] + spans[:2], linked[2:] + linked[:2], persons, 1000) == [3, 3, None, None]
    assert name_antecedents([(0, 5, "Fonda"), (10, 20, "Jane Fonda")], [None, "QJ"], persons, 1000) == [None, None]
    # spans before ``first`` are antecedents only
    assert name_antecedents(spans, linked, persons, 1000, first=3) == [None, None, None, 1]


def _decision(qid, score=0.8, others=()):
    return LinkDecision(qid, score, tuple((Candidate(q, 1.0), s) for q, s in ((qid, score), *others) if q))


def test_name_resolver_links_the_surname_to_the_person_and_keeps_its_own_candidates(kb):
    text = "Douglas Adams lived in Boston . Adams wrote , and Boston cheered ."
    ms = [Mention(s, e, text[s:e], "person", 0.9) for s, e in [(0, 13), (23, 29), (32, 37), (50, 56)]]
    decs = [_decision("Q42", 0.7), _decision("Q100"), _decision(None, 0.1, (("Q204289", 0.1),)),
            _decision("Q100")]
    out = NameResolver(kb).resolve(ms, decs)
    assert [d.qid for d in out] == ["Q42", "Q100", "Q42", "Q100"]
    assert out[2].link_score == 0.7 and out[2].ranked[0][0].sources == ("coref",)
    assert [c.qid for c, _ in out[2].ranked] == ["Q42", "Q204289"]
    assert out[0] is decs[0] and out[3] is decs[3]
    # Boston is no person, so "Boston" after "Boston Celtics" is left alone
    celtics = [Mention(0, 14, "Boston Celtics", "organization", 0.9), Mention(20, 26, "Boston", "location", 0.9)]
    kept = [_decision("Q131371"), _decision("Q100")]
    assert NameResolver(kb).resolve(celtics, kept) == kept
    # the full name in an earlier segment (preceding) resolves a short form of this one
    later = NameResolver(kb).resolve(ms[2:3], decs[2:3], preceding=[(ms[0], decs[0])])
    assert later[0].qid == "Q42"


def test_the_chain_resolves_the_surname_before_the_pronoun(kb):
    text = "Douglas Adams met Arnold Schwarzenegger . Adams said he was tired ."
    ms = [Mention(s, e, text[s:e], "person", 0.9) for s, e in [(0, 13), (18, 39), (42, 47), (53, 55)]]
    decs = [_decision("Q42"), _decision("Q2685"), _decision(None, 0.1), _decision(None, 0.0)]
    chain = ResolverChain([NameResolver(kb), PronounResolver(kb)])
    assert chain.window_chars == max(NameResolver(kb).window_chars, PronounResolver(kb).window_chars)
    assert [d.qid for d in chain.resolve(ms, decs)] == ["Q42", "Q2685", "Q42", "Q42"]
    # the pronoun alone takes the closest person, Schwarzenegger
    assert [d.qid for d in PronounResolver(kb).resolve(ms, decs)] == ["Q42", "Q2685", None, "Q2685"]


def test_kept_link_scoring_applies_the_rule_as_the_pipeline_does(kb):
    text = "Douglas Adams lived in Boston . Adams wrote , and Boston cheered ."
    spans = [(0, 13), (23, 29), (32, 37), (50, 56)]
    ms = [Mention(s, e, text[s:e], "person", 0.9) for s, e in spans]
    pipeline = SimpleNamespace(coref=ResolverChain([NameResolver(kb), PronounResolver(kb)]), kb=kb)
    rule = NameRule.of_pipeline(pipeline, ["Q42", "Q100", "Q204289"])
    assert rule.persons == frozenset({"Q42"}) and rule.window_chars == NameResolver(kb).window_chars
    assert rule.pronoun_window_chars == PronounResolver(kb).window_chars
    pronouns_only = NameRule.of_pipeline(SimpleNamespace(coref=PronounResolver(kb), kb=kb), ["Q42"])
    assert pronouns_only.window_chars is None and pronouns_only.pronoun_window_chars is not None
    assert NameRule.of_pipeline(SimpleNamespace(coref=None, kb=kb), ["Q42"]) is None
    # ED: picks per gold span, placed by document
    where = [(0, s, e, text[s:e]) for s, e in spans] + [(1, 0, 5, "Adams")]
    picks = ["Q42", "Q100", "Q204289", "Q100", "Q204289"]
    assert rule.picks(where, picks) == ["Q42", "Q100", "Q42", "Q100", "Q204289"]
    # e2e: the full name must be linked at the threshold, and the short form takes its score
    traced = [[SimpleNamespace(start=s, end=e, text=text[s:e]) for s, e in spans]]
    records = [[(0, 13, "Q42", 0.6, 0.9), (23, 29, "Q100", 0.9, 0.9), (32, 37, "Q204289", 0.2, 0.9),
                (50, 56, "Q100", 0.9, 0.9)]]
    assert rule.records(traced, records, 0.5)[0][2] == (32, 37, "Q42", 0.6, 0.9)
    assert rule.records(traced, records, 0.7) == records
    decs = [_decision(q, p) for _, _, q, p, _ in records[0]]
    resolved = NameResolver(kb).resolve(ms, decs)
    expected = [(q, p) for _, _, q, p, _ in rule.records(traced, records, 0.5)[0]]
    assert [(d.qid, d.link_score) for d in resolved] == expected


def test_kept_link_scoring_resolves_pronouns_after_short_names_as_the_chain_does(kb):
    text = "Douglas Adams lived in Boston . Adams wrote there , and he left it ."
    spans = [(0, 13), (23, 29), (32, 37), (56, 58), (64, 66)]
    ms = [Mention(s, e, text[s:e], "person", 0.9) for s, e in spans]
    chain = ResolverChain([NameResolver(kb), PronounResolver(kb)])
    rule = NameRule.of_pipeline(SimpleNamespace(coref=chain, kb=kb), ["Q42", "Q100", "Q204289"])
    # "Adams" is ranked to the Boston entity, "he" and "it" to whatever: the rule and the chain agree
    picks = ["Q42", "Q100", "Q100", "Q100", "Q42"]
    where = [(0, s, e, text[s:e]) for s, e in spans]
    decs = [_decision(q, 0.9) for q in picks]
    chained = [d.qid for d in chain.resolve(ms, decs)]
    assert rule.picks(where, picks) == chained == ["Q42", "Q100", "Q42", "Q42", "Q100"]
    # e2e: an antecedent below the threshold is no antecedent, for the pronoun as for the short form
    traced = [[SimpleNamespace(start=s, end=e, text=text[s:e]) for s, e in spans]]
    records = [[(0, 13, "Q42", 0.3, 0.9), (23, 29, "Q100", 0.9, 0.9), (32, 37, None, 0.0, 0.9),
                (56, 58, None, 0.0, 0.9), (64, 66, None, 0.0, 0.9)]]
    low = rule.records(traced, records, 0.5)[0]
    assert [r[2] for r in low] == ["Q42", "Q100", None, None, "Q100"]  # "it" still finds Boston, linked at 0.9
    assert [r[2] for r in rule.records(traced, records, 0.2)[0]] == ["Q42", "Q100", "Q42", "Q42", "Q100"]
