"""Regression sentences: everyday sentences with gold Wikidata ids, linked over a sub-KB of the arnold slice.

The sentences (``tests/data/regression_sentences.jsonl``) cover five error classes: places with a
qualifier ("Paris, Texas", "Springfield, Illinois"), companies and places sharing a name (Amazon,
Columbia, Toyota), relatives sharing a surname (the Kennedys, the Bushes, the Schwarzeneggers), exact
names of organisations and states (European Union, Washington State; George Washington against
Washington, D.C.) and people the slice lacks whose surname it knows (Brigitte Macron). The KB holds
every slice entity named like a gold surface or a word n-gram of the sentences, so homonyms are there;
it is built with the default model and linked with the configuration ``glinker.load`` gives
(``benchmarks/regression_sentences.py`` prints the same report with every wrong mention's candidates).
Needs the shared data (``GLINKER_DATA_DIR``); run with ``-s`` to see the per-class table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import regression_sentences as rs  # noqa: E402

GIVEN_SPAN_FLOOR = 0.90


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """(pipeline, sub-dump counts, one result per gold mention) for the sentences over their sub-KB."""
    from glinker.settings import data_dir

    arnold = data_dir() / rs.ARNOLD
    missing = [p for p in (arnold / rs.DUMP_NAME, arnold / rs.POPULARITY_NAME) if not p.is_file()]
    if missing:
        pytest.skip(f"the arnold Wikidata slice is not there ({', '.join(map(str, missing))}): set "
                    "GLINKER_DATA_DIR to the shared data folder to run the regression sentences")
    import glinker

    rows = rs.load_sentences()
    kb_dir, counts = rs.build_sub_kb(data_dir(), rows, tmp_path_factory.mktemp("regression-sentences"))
    nlp = glinker.load(kb_dir=kb_dir, max_candidates=5)
    return nlp, counts, rs.evaluate(nlp, rows)


def test_sentences_are_well_formed():
    rows = rs.load_sentences()  # every gold span spells its surface
    assert len(rows) >= 50
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["class"] for r in rows} == set(rs.CLASSES)
    for row in rows:
        assert row["mentions"], row["id"]
        for m in row["mentions"]:
            if m["qid"]:
                assert m["qid"].startswith("Q") and m["label"], (row["id"], m)
            else:
                assert m["label"] is None and m.get("note"), (row["id"], m)  # a NIL says why


def test_sub_kb_holds_every_gold_entity(linked):
    nlp, counts, results = linked
    assert counts["gold_missing"] == 0
    gold = {r.gold for r in results if r.gold}
    assert gold <= set(nlp.kb.store.get_many(gold))


def test_given_span_accuracy(linked, record_property):
    _, _, results = linked
    table, stats = rs.accuracy_table(results)
    print("\nregression sentences: gold mentions right on given spans (link_spans) and found end to end "
          "(link_batch, as link_text)\n" + table)
    wrong = rs.mention_report(results)
    if wrong:
        print(wrong)
    record_property("regression_sentences", json.dumps(stats, sort_keys=True))
    overall = stats["overall"]["given_spans"]
    assert overall >= GIVEN_SPAN_FLOOR, f"given-span accuracy {overall:.3f} < {GIVEN_SPAN_FLOOR}"


def test_nil_person_names_keep_their_first_name(linked):
    """A full name the KB lacks ("Brigitte Macron") must not become a namesake with another first name."""
    nlp, _, results = linked
    assert not rs.first_name_clashes(results, nlp.kb)


def test_leave_one_out_refits_without_the_scored_group(linked, tmp_path):
    """Leave-one-out validation on the sentences split into three groups: every group gets figures from
    models fitted on the other two, the configured reranker is left as it was, and the in-sample figures,
    recomputed from the kept features, are exactly what the pipeline itself scores."""
    from glinker.evaluate.el import GoldDocument, GoldMention, evaluate_e2e, evaluate_ed
    from glinker.rerank.leave_one_out import leave_one_out, summary

    nlp, _, _ = linked
    rows = rs.load_sentences()
    docs = [GoldDocument(r["id"], r["text"], [GoldMention(m["start"], m["end"], m["qid"]) for m in r["mentions"]])
            for r in rows]
    groups = {f"group{k}": docs[k::3] for k in range(3)}
    booster, threshold = nlp.reranker.booster, nlp.reranker.nil_threshold
    cache = tmp_path / "kept.json"
    results = leave_one_out(nlp, groups, noise_seeds=(1, 2), cache=cache)
    assert cache.is_file()
    again = leave_one_out(nlp, groups, noise_seeds=(1, 2), cache=cache)  # refitted from the kept features
    assert [r.__dict__ for r in again] == [r.__dict__ for r in results]
    assert nlp.reranker.booster is booster and nlp.reranker.nil_threshold == threshold
    assert [r.name for r in results] == list(groups)
    for r, docs_k in zip(results, groups.values()):
        assert r.ed_in_sample == round(evaluate_ed(nlp, docs_k).metrics()["accuracy"], 2)
        assert r.e2e_in_sample == round(evaluate_e2e(nlp, docs_k).metrics()["f1"], 2)
        assert 0.0 < r.ed_loo <= 100.0 and 0.0 < r.e2e_loo <= 100.0, r  # the held-out models link something
        assert len(r.ed_seeds) == len(r.e2e_seeds) == 2
        e = r.ed_loo_errors  # every scored span in exactly one class, the right ones as ed_loo counts them
        spans = e["right"] + e["no_candidates"] + e["gold_not_candidate"] + e["ranked_below"]
        assert r.ed_loo == round(100.0 * e["right"] / spans, 2) and 0 <= e["ranked_below_demonym"] <= e["ranked_below"]
    dropped = leave_one_out(nlp, groups, noise_seeds=(1,), cache=cache, features=["prior", "alias_match"])
    assert [r.ed_in_sample for r in dropped] == [r.ed_in_sample for r in results]  # the configured models
    assert [r.ed_loo for r in dropped] != [r.ed_loo for r in results]  # two features cannot rank like nineteen
    total = summary(results)
    assert total["ed_loo"] == round(sum(r.ed_loo for r in results) / 3, 2)
    assert total["ed_noise_std"] >= 0.0 and len(total["e2e_seed_means"]) == 2


def test_nil_fitting_methods_and_the_unseen_check(linked, tmp_path):
    """Every way of fitting the NIL decision gives held-out figures; the check on a group no fit saw scores the
    packaged models exactly as the pipeline does, and a refit on the other groups beside them."""
    from glinker.evaluate.el import GoldDocument, GoldMention, evaluate_e2e, evaluate_ed
    from glinker.rerank.leave_one_out import leave_one_out
    from glinker.rerank.nil_fit import NIL_METHODS
    from glinker.rerank.unseen import check_unseen

    nlp, _, _ = linked
    rows = rs.load_sentences()
    docs = [GoldDocument(r["id"], r["text"], [GoldMention(m["start"], m["end"], m["qid"]) for m in r["mentions"]])
            for r in rows]
    groups = {f"group{k}": docs[k::3] for k in range(3)}
    cache = tmp_path / "kept.json"
    by_method = {m: leave_one_out(nlp, groups, noise_seeds=(), cache=cache, nil_method=m) for m in NIL_METHODS}
    for method, results in by_method.items():
        assert [r.ed_loo for r in results] == [r.ed_loo for r in by_method["held_out"]]  # the NIL fit reads no ED
        assert all(r.e2e_loo is not None and 0.0 <= r.e2e_loo <= 100.0 for r in results), method
    with pytest.raises(ValueError, match="NIL method"):
        leave_one_out(nlp, groups, noise_seeds=(), cache=cache, nil_method="in_sample")
    fitted, unseen = {k: groups[k] for k in ("group0", "group1")}, {"group2": groups["group2"]}
    (check,) = check_unseen(nlp, fitted, unseen, cache=cache, nil_method="two_fold")
    assert check.ed_packaged == round(evaluate_ed(nlp, groups["group2"]).metrics()["accuracy"], 2)
    assert check.e2e_packaged == round(evaluate_e2e(nlp, groups["group2"]).metrics()["f1"], 2)
    assert 0.0 < check.ed_refit <= 100.0 and 0.0 <= check.e2e_refit <= 100.0
    assert 0.0 <= check.nil_threshold <= 1.0
    with pytest.raises(ValueError, match="not unseen"):
        check_unseen(nlp, groups, unseen, cache=cache)
    (strict,) = check_unseen(nlp, fitted, unseen, cache=cache, nil_method="two_fold", nil_objective="with_nil")
    assert (strict.ed_packaged, strict.ed_refit) == (check.ed_packaged, check.ed_refit)  # the NIL fit reads no ED
    assert 0.0 <= strict.nil_threshold <= 1.0
    with pytest.raises(ValueError, match="NIL objective"):
        check_unseen(nlp, fitted, unseen, cache=cache, nil_objective="recall")


def test_deleted_entities_are_scored_and_taught_leave_one_out(linked, tmp_path):
    """Simulated deletions (glinker.rerank.deletion): the mentions of a scored set of gold entities get a
    left-NIL share from the packaged and the held-out models, and teaching the NIL classifiers with other
    deleted entities changes the NIL decision but not the ranker."""
    from glinker.evaluate.el import GoldDocument, GoldMention, kb_membership
    from glinker.rerank.deletion import gold_entities
    from glinker.rerank.leave_one_out import leave_one_out, summary, training_deletions

    nlp, _, _ = linked
    rows = rs.load_sentences()
    docs = [GoldDocument(r["id"], r["text"], [GoldMention(m["start"], m["end"], m["qid"]) for m in r["mentions"]])
            for r in rows]
    groups = {f"group{k}": docs[k::3] for k in range(3)}
    kb_has = kb_membership(nlp.kb, docs)
    every = gold_entities(docs, kb_has)
    scored = set(every[::3])
    taught = training_deletions(groups, kb_has, 1.0, scored)
    assert taught == set(every) - scored
    cache = tmp_path / "kept.json"
    plain = leave_one_out(nlp, groups, noise_seeds=(), cache=cache, nil_method="two_fold", deleted_eval=scored)
    deleted = leave_one_out(nlp, groups, noise_seeds=(), cache=cache, nil_method="two_fold", deleted_eval=scored,
                            nil_deleted=1.0)
    assert [r.ed_loo for r in deleted] == [r.ed_loo for r in plain]  # the ranker is not refitted differently
    assert sum(r.deleted_mentions for r in plain) > 0
    for r in plain + deleted:
        assert r.deleted_nil_in_sample is not None and 0.0 <= r.deleted_nil_loo <= 100.0
    assert [r.deleted_nil_in_sample for r in deleted] == [r.deleted_nil_in_sample for r in plain]
    assert summary(deleted)["deleted_nil_loo"] >= summary(plain)["deleted_nil_loo"]
    # mentions traced over a KB without the entities: here the kept ones, over the KB with them, stand in; the
    # same mentions are counted, and the models fitted without each group score them
    from glinker.rerank.kept import load_kept

    traced = load_kept(cache)[1]
    over = leave_one_out(nlp, groups, noise_seeds=(), cache=cache, nil_method="two_fold", deleted_eval=scored,
                         deleted_traced=traced)
    assert [r.deleted_kb_mentions for r in over] == [r.deleted_mentions for r in plain]
    assert all(r.deleted_kb_nil_loo is not None for r in over if r.deleted_kb_mentions)
    with pytest.raises(ValueError, match="deleted_eval"):
        leave_one_out(nlp, groups, noise_seeds=(), cache=cache, deleted_traced=traced)
    with pytest.raises(ValueError, match="miscount"):
        leave_one_out(nlp, groups, noise_seeds=(), cache=cache, deleted_eval=scored,
                      deleted_traced={n: v[:-1] for n, v in traced.items()})
