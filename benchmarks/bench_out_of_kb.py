"""Linking when the right entity is missing: a KB with gold entities deleted, then linked end to end.

    python benchmarks/bench_out_of_kb.py kb_dir=kb/arnold [n=1000] [seed=0] [work=runs/out_of_kb]
        [benchmarks=[aida-conll-dev,...]] [systems=[default,...]] [wrong=FILE] [scored=FILE]
        [glinker.link overrides for every system]

Nobody's KB holds everything, and in-KB scoring hides what a linker does when the right entity is
missing. This copies the KB to ``work/kb`` and deletes ``n`` entities from it with ``python -m kb_build
update deletions=…``: a seeded sample of the gold entities of the shared dev benchmarks, so the right
answer for those mentions is gone while their namesakes stay. It then links the benchmarks end to end with
each system and reports, per benchmark:

- of the gold mentions whose entity was deleted and that the system detected at exactly their span, the
  share left NIL (right) and the share linked to another entity (a confident wrong link);
- the in-KB strong-match F1 over the entities still in the KB, to show what the NIL decision costs there.

Prints a Markdown table on stderr and a JSON line on stdout. The pruned KB is reused when it is there.
``wrong=FILE`` writes every deleted-gold mention linked elsewhere as a JSONL line (system, benchmark, text,
detector label, gold QID, linked QID, its label and description, link score), to read what they link to.
``scored=FILE`` (QIDs, one a line) counts only the deleted entities listed there (all stay deleted): the part of the
list a fit left out of its deletion teaching (``scripts/fit_loo.py nil_deleted_exclude=FILE``), where the figure is
on deletions the fit never saw.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import el_benchmark_path, key_value_options, qid_file, stamp  # noqa: E402

BENCHMARKS = ["aida-conll-dev", "oke-2016-train", "msnbc", "spotlight", "wiki-fair-no-coref", "oke-2015-train",
              "derczynski", "news-fair-no-coref", "istex_train"]
# glinker.link overrides per system (bench_el's SYSTEMS, by short name)
SYSTEMS = {
    "default": [],
    "alias + popularity": ["experiment=alias_popularity_baseline"],
    "dense span·entity top-1": ["experiment=dense_baseline"],
}
DEFAULTS = {"kb_dir": "kb/arnold", "n": "1000", "seed": "0", "work": "runs/out_of_kb",
            "benchmarks": "[" + ",".join(BENCHMARKS) + "]", "systems": "[default]", "wrong": "",
            "scored": ""}



def _list(value: str) -> list[str]:
    return [v.strip() for v in value.strip("[]").split(",") if v.strip()]


def pruned_kb(kb_dir: Path, work: Path, docs: dict, n: int, seed: int) -> tuple[Path, set[str]]:
    """``work/kb``: ``kb_dir`` without ``n`` sampled gold entities (made once, then reused)."""
    from glinker.kb import KnowledgeBase

    target = work / "kb"
    listed = work / "deleted.txt"
    if target.is_dir() and listed.is_file():
        return target, set(listed.read_text(encoding="utf-8").split())
    kb = KnowledgeBase.open(kb_dir)
    gold = sorted({m.qid for ds in docs.values() for d in ds for m in d.mentions if m.qid and not m.optional})
    present = sorted(set(kb.store.get_many(gold)))
    kb.close()
    if len(present) < n:
        raise SystemExit(f"only {len(present)} gold entities are in {kb_dir}; ask for n <= that")
    deleted = sorted(random.Random(seed).sample(present, n))
    if target.exists():
        shutil.rmtree(target)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(kb_dir, target, ignore=shutil.ignore_patterns("readers.lock"))
    pending = work / "deleted.pending.txt"
    pending.write_text("".join(q + "\n" for q in deleted), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kb_build", "update", f"kb_dir={target}", f"deletions={pending}",
                           "progress=false"], cwd=ROOT)
    if done.returncode != 0:  # kb_build said why on stderr; the copy is remade on the next run
        raise SystemExit(f"kb_build update of the copy {target} failed (exit {done.returncode})")
    pending.rename(listed)  # the marker that the pruned KB is complete
    return target, set(deleted)


def run_system(name: str, overrides: list[str], kb_dir: Path, docs: dict, deleted: set[str],
               wrong: list[dict] | None = None) -> dict:
    """Link every benchmark with one system over the pruned KB; the per-benchmark figures. Deleted-gold
    mentions linked elsewhere are appended to ``wrong`` when it is given."""
    from hydra import compose, initialize_config_dir

    from glinker.config import CONF_DIR, build_pipeline
    from glinker.evaluate.el import kb_membership, score_e2e
    from glinker.types import Document

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate_el", overrides=[f"kb_dir={kb_dir}", *overrides])
    pipeline = build_pipeline(cfg)
    out = {}
    for bench, gold_docs in docs.items():
        batch = [Document(d.id, d.text) for d in gold_docs]
        for s in range(0, len(batch), pipeline.batch_size):
            pipeline.link_batch(batch[s : s + pipeline.batch_size])
        preds = [[(m.start, m.end, m.qid) for m in d.mentions] for d in batch]
        linked = {(d.id, m.start, m.end): m for d in batch for m in d.mentions if m.qid}
        has = kb_membership(pipeline.kb, gold_docs)
        inkb = score_e2e(gold_docs, preds, has).metrics()
        gone = {"gold": 0, "detected": 0, "left_nil": 0, "linked": 0}
        for g, p in zip(gold_docs, preds):
            at = {(s, e): q for s, e, q in p}
            for m in g.mentions:
                if m.optional or m.qid not in deleted or not g.in_evaluation_span(m.start, m.end):
                    continue
                gone["gold"] += 1
                if (m.start, m.end) in at:
                    gone["detected"] += 1
                    gone["left_nil" if at[(m.start, m.end)] is None else "linked"] += 1
                    got = linked.get((g.id, m.start, m.end))
                    if wrong is not None and got is not None:
                        wrong.append({"system": name, "benchmark": bench, "text": got.text, "label": got.label,
                                      "gold": m.qid, "qid": got.qid, "entity_label": got.entity_label,
                                      "description": got.description, "link_score": round(got.link_score, 4)})
        gone["left_nil_pct"] = round(100 * gone["left_nil"] / max(1, gone["detected"]), 1)
        out[bench] = {"in_kb_f1": inkb["f1"], "deleted": gone}
        logging.info("%s / %s: deleted gold %s, in-KB F1 %.1f", name, bench, gone, inkb["f1"])
    return out


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    for noisy in ("glinker", "kb_build", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    opts, extra = key_value_options(argv, DEFAULTS, passthrough=True)
    from glinker.evaluate.el import load_benchmark
    from glinker.settings import resolve_data_path

    names = _list(opts["benchmarks"])
    docs = {n: load_benchmark(resolve_data_path(el_benchmark_path(n))) for n in names}
    chosen = qid_file("scored", opts["scored"])  # read before the KB is pruned: a wrong path fails at once
    kb_dir, deleted = pruned_kb(Path(opts["kb_dir"]), Path(opts["work"]), docs, int(opts["n"]), int(opts["seed"]))
    if chosen is not None:
        if not chosen <= deleted:
            raise SystemExit(f"scored={opts['scored']}: {len(chosen - deleted)} of its QIDs are not among the deleted "
                             f"entities ({Path(opts['work']) / 'deleted.txt'})")
        deleted = chosen
    systems = {s: SYSTEMS[s] for s in _list(opts["systems"])}
    wrong: list[dict] | None = [] if opts["wrong"] else None
    if wrong is not None:  # its folder made before the linking, not found missing after it
        Path(opts["wrong"]).parent.mkdir(parents=True, exist_ok=True)
    results = {s: run_system(s, over + extra, kb_dir, docs, deleted, wrong) for s, over in systems.items()}
    if wrong is not None:  # written whole, then renamed: a failed run leaves no half file
        target = Path(opts["wrong"])
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wrong), encoding="utf-8")
        tmp.replace(target)
    lines = [f"Command: `python benchmarks/bench_out_of_kb.py {' '.join(argv)}` ({stamp()}); "
             f"{opts['n']} gold entities deleted from {opts['kb_dir']}"
             + (f", the {len(deleted)} in {opts['scored']} scored" if opts["scored"] else "") + "\n",
             "| system | benchmark | deleted gold mentions | detected at their span | left NIL | linked elsewhere "
             "| left NIL % | in-KB F1 |", "|---|---|---|---|---|---|---|---|"]
    for s, per in results.items():
        tot = {"gold": 0, "detected": 0, "left_nil": 0, "linked": 0}
        for bench, r in per.items():
            d = r["deleted"]
            for k in tot:
                tot[k] += d[k]
            lines.append(f"| {s} | {bench} | {d['gold']} | {d['detected']} | {d['left_nil']} | {d['linked']} | "
                         f"{d['left_nil_pct']:.1f} | {r['in_kb_f1']:.1f} |")
        mean_f1 = sum(r["in_kb_f1"] for r in per.values()) / len(per)
        lines.append(f"| {s} | **all** | {tot['gold']} | {tot['detected']} | {tot['left_nil']} | {tot['linked']} | "
                     f"{100 * tot['left_nil'] / max(1, tot['detected']):.1f} | {mean_f1:.1f} (mean) |")
    print("\n".join(lines), file=sys.stderr)
    print(json.dumps({"deleted": len(deleted), "results": results}))


if __name__ == "__main__":
    main(sys.argv[1:])
