"""glinker side by side with Knowledgator's GLiNKER (PyPI ``glinker==0.1.1``) on the same work, in one run.

    python benchmarks/bench_glinker_ref.py [gk_python=/tmp/gk/bin/python] [docs_per_set=25] [entities=5000] \\
        [kb_dir=kb/arnold] [work_dir=DIR] [ed=true] [glinker.link overrides, e.g. batch_size=16]

GLiNKER's import package is also called ``glinker``, so it lives in its own clean
virtualenv and is driven through ``benchmarks/glinker_ref_runner.py`` in a subprocess::

    python -m venv /tmp/gk && /tmp/gk/bin/pip install torch==2.13.0 && \\
        /tmp/gk/bin/pip install glinker==0.1.1 rapidfuzz

The shared work (prepared once under ``work_dir``, default ``$GLINKER_CACHE_DIR/glinker_ref``):

* KB: ``entities`` arnold entities — every gold entity of the dev sets that the arnold
  KB (``kb_dir``) holds, then the most popular others. Ours is built from those
  entities' lines of the arnold dump by ``python -m kb_build``; GLiNKER loads the
  same records (label, aliases, description from the dump; popularity as an
  integer because its record type wants one) as JSONL into its dict layer.
* Model: our default model, exported as a full GLiNER checkpoint folder
  (``save_checkpoint(omit_base_weights=False)``) for GLiNKER's L1 (mentions) and L3
  (candidate scoring) — no model hub.
* Documents: the first ``docs_per_set`` documents of each ELEVANT dev set; the same
  entity types and mention threshold (the configured ones: 0.3 by default) for both detectors.

Both systems' outputs are scored by the same functions (``glinker.evaluate.el``):
ED accuracy on gold spans (in-KB: the best-ranked candidate), e2e strong-match
micro P/R/F1. Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_link import DEV  # noqa: E402
from common import key_value_options, stamp  # noqa: E402

from glinker.config import CONF_DIR  # noqa: E402
from glinker.evaluate.el import (  # noqa: E402
    GoldDocument,
    Scored,
    ed_scope,
    kb_membership,
    load_benchmark,
    score_e2e,
    tally_ed,
)
from glinker.kb.store import LmdbEntityStore  # noqa: E402
from glinker.settings import cache_dir, data_dir  # noqa: E402

# work_dir "": $GLINKER_CACHE_DIR/glinker_ref
OPTS = {"gk_python": "/tmp/gk/bin/python", "docs_per_set": "25", "entities": "5000", "kb_dir": "kb/arnold",
        "work_dir": "", "ed": "true", "prepare_only": "false"}
ARNOLD = "wikidata/arnold"
THRESHOLDS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def load_docs(per_set: int) -> tuple[list[GoldDocument], list[GoldDocument]]:
    """(first ``per_set`` documents of each dev set, all dev documents)."""
    chosen, every = [], []
    for name in DEV:
        docs = load_benchmark(data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl")
        chosen += docs[:per_set]
        every += docs
    return chosen, every


def select_entities(kb_dir: Path, gold_docs: list[GoldDocument], n: int) -> list[str]:
    """Gold entities of the dev sets that the KB holds (most popular first), then the most popular others."""
    store = LmdbEntityStore(kb_dir / "entities.lmdb")
    recs = store.get_many({q for _, q in store.iter_aliases()})
    store.close()
    key = lambda q: (-recs[q].popularity, q)  # noqa: E731
    gold = sorted({m.qid for d in gold_docs for m in d.mentions if m.qid in recs}, key=key)[:n]
    taken = set(gold)
    others = sorted((q for q in recs if q not in taken), key=key)[: n - len(gold)]
    return gold + others


def write_subset_dump(dump: Path, qids: set[str], out: Path) -> int:
    """The dump lines of ``qids`` as a dump file of the same format (a JSON array, one entity per line)."""
    kept = 0
    tmp = out.with_suffix(".tmp")
    with gzip.open(dump, "rb") as src, gzip.open(tmp, "wb") as dst:
        dst.write(b"[\n")
        for line in src:
            body = line.rstrip().rstrip(b",")
            if not body.startswith(b"{"):
                continue
            if orjson.loads(body).get("id") in qids:
                dst.write((b",\n" if kept else b"") + body)
                kept += 1
        dst.write(b"\n]\n")
    tmp.replace(out)
    return kept


def prepare(work: Path, kb_dir: Path, qids: list[str], detector) -> tuple[Path, Path, Path]:
    """Our 5k KB, GLiNKER's entity JSONL and the full GLiNER export, built once and reused."""
    from glinker.errors import KBError
    from glinker.kb import KnowledgeBase
    from glinker.model.checkpoint import load_checkpoint, save_checkpoint

    work.mkdir(parents=True, exist_ok=True)
    kb5k, ents, model = work / "kb", work / "entities.jsonl", work / "model_full"
    sel = work / "selection.txt"
    same = sel.exists() and sel.read_text().split() == qids
    try:
        fresh = same and KnowledgeBase.open(kb5k, expect_fingerprint=detector.fingerprint) is not None
    except KBError:
        fresh = False
    if not fresh:
        dump = work / "subset-dump.json.gz"
        kept = write_subset_dump(data_dir() / ARNOLD / "arnold-dump.json.gz", set(qids), dump)
        print(f"[prepare] {kept} dump lines -> {dump}; building {kb5k}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "kb_build", f"dump={dump}", f"output_dir={kb5k}", "overwrite=true",
                        f"popularity={data_dir() / ARNOLD / 'arnold-popularity.tsv.gz'}", "progress=false"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        sel.write_text("\n".join(qids))
        ents.unlink(missing_ok=True)
    if not ents.exists():
        store = LmdbEntityStore(kb5k / "entities.lmdb")
        recs = store.get_many(qids)
        store.close()
        with open(ents, "w", encoding="utf-8") as fh:
            for q in qids:
                if q in recs:
                    r = recs[q]
                    # GLiNKER's DatabaseRecord.popularity is an int: scale the PageRank-style score
                    fh.write(json.dumps({"entity_id": q, "label": r.label, "aliases": list(r.aliases),
                                         "description": r.description, "entity_type": r.types[0] if r.types else "",
                                         "popularity": int(round(r.popularity * 1e9))}) + "\n")
    marker = model / "glinker_fingerprint.json"  # also keys GLiNKER's cached entity embeddings
    if not marker.exists() or json.loads(marker.read_text()) != detector.fingerprint:
        save_checkpoint(detector.bundle, model, omit_base_weights=False)
        assert load_checkpoint(model).fingerprint == detector.fingerprint
        marker.write_text(json.dumps(detector.fingerprint))
    return kb5k, ents, model


def run_ours(overrides: list[str], kb5k: Path, docs: list[GoldDocument], ed: bool) -> dict:
    """Our default pipeline in-process: timed e2e linking, then ED on gold spans."""
    from glinker.config import build_pipeline
    from glinker.evaluate.el import evaluate_ed
    from glinker.types import Document

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=[f"kb_dir={kb5k}", *overrides])
    pipeline = build_pipeline(cfg)
    pipeline.link_batch([Document("w", d.text) for d in docs[:2]])  # warm-up
    batch = [Document(d.id, d.text) for d in docs]
    start, cpu = time.perf_counter(), time.process_time()
    for s in range(0, len(batch), pipeline.batch_size):
        pipeline.link_batch(batch[s : s + pipeline.batch_size])
    det = getattr(pipeline.detector, "detector", pipeline.detector)
    out = {"e2e_seconds": time.perf_counter() - start, "e2e_cpu_seconds": time.process_time() - cpu,
           "labels": list(pipeline.labels or det.labels), "threshold": det.threshold,
           "kb": pipeline.kb, "e2e": [[(m.start, m.end, m.qid) for m in d.mentions] for d in batch]}
    out["mentions"] = sum(len(d.mentions) for d in batch)
    if ed:
        start = time.perf_counter()
        out["ed_score"] = evaluate_ed(pipeline, docs)
        out["ed_seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_glinker(gk_python: str, work: Path, ents: Path, model: Path, docs: list[GoldDocument], kb_has,
                labels: list[str], threshold: float, ed: bool, precompute_only: bool = False) -> dict:
    """Knowledgator's GLiNKER in its own venv (subprocess); ED spans are the same in-scope gold spans as ours."""
    # run from work_dir: with this repository as the working directory, ``python -c`` would import our glinker
    probe = subprocess.run([gk_python, "-c", "import glinker.core, glinker; print(glinker.__version__)"],
                           capture_output=True, text=True, cwd=work)
    if probe.returncode != 0:
        raise SystemExit(f"{gk_python} cannot import Knowledgator's glinker ({probe.stderr.strip()[-300:]}); "
                         "create the venv as this script's docstring says")
    req = {"model": str(model), "entities": str(ents), "labels": labels, "l1_threshold": threshold,
           # L3 runs at a near-zero threshold and reports each link's score; thresholds are applied
           # afterwards (GLiNER keeps a span's top label iff its probability exceeds the threshold, and
           # L1's flat spans never compete in decoding, so this equals running at that threshold)
           "l3_threshold": 0.001, "ed_l3_threshold": 0.001, "l1_precomputed_labels": True,
           "l2_search_mode": ["exact", "fuzzy"], "dim": 384, "template": "{label}: {description}",
           "max_length": 512, "batch_size": 8, "ed": ed, "precompute_sample": 256, "precompute_only": precompute_only,
           # GLiNKER's entity embeddings take minutes: kept per entity set and model fingerprint
           "embedded_cache": str(work / f"gk-embedded-{_digest(ents, model)}.jsonl"),
           "docs": [{"id": d.id, "text": d.text,
                     "gold_spans": [[m.start, m.end] for m in ed_scope(d, kb_has)[0]]} for d in docs]}
    req_path, out_path = work / "gk_request.json", work / "gk_result.json"
    req_path.write_text(json.dumps(req), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    proc = subprocess.run([gk_python, str(ROOT / "benchmarks" / "glinker_ref_runner.py"), str(req_path), str(out_path)],
                          env=env, stderr=subprocess.PIPE, text=True, cwd=work)
    log = [ln for ln in proc.stderr.splitlines() if not ln.startswith("[glinker_ref] e2e")]
    if proc.returncode != 0:
        raise SystemExit("GLiNKER run failed:\n" + "\n".join(log[-40:]))
    res = json.loads(out_path.read_text(encoding="utf-8"))
    res["log_tail"] = log[-15:]
    return res


def _digest(*files: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in files:
        for part in sorted(f.rglob("*")) if f.is_dir() else [f]:
            if part.is_file() and part.suffix in (".jsonl", ".json"):
                h.update(part.read_bytes())
    return h.hexdigest()[:16]


def _ed_for_glinker(docs: list[GoldDocument], ed: list[list[dict]], kb_has) -> Scored:
    score = Scored()
    for doc, preds in zip(docs, ed):
        scored, skipped = ed_scope(doc, kb_has)
        score.left_out.update(skipped)
        by_span = {(p["start"], p["end"]): p for p in preds}
        for gold in scored:
            p = by_span.get((gold.start, gold.end), {})
            qid = p.get("qid")
            tally_ed(score, doc.id, doc.text, gold, [qid] if qid else [], p.get("candidate_ids", []), qid)
    return score


def main(argv: list[str]) -> None:
    from glinker.detection.bi_encoder import BiEncoderDetector

    # the other arguments are glinker.link overrides for our pipeline
    opts, overrides = key_value_options(argv, OPTS, passthrough=True)
    gk_python = opts["gk_python"]
    work = Path(opts["work_dir"] or cache_dir() / "glinker_ref").expanduser().resolve()
    kb_dir = (ROOT / opts["kb_dir"]).resolve()
    ed = opts["ed"].lower() in ("1", "true", "yes")
    docs, every = load_docs(int(opts["docs_per_set"]))
    qids = select_entities(kb_dir, every, int(opts["entities"]))
    detector = BiEncoderDetector()
    kb5k, ents, model = prepare(work, kb_dir, qids, detector)
    del detector

    if opts["prepare_only"].lower() in ("1", "true", "yes"):
        # everything but the measured runs: our KB, the export, and GLiNKER's entity embeddings (minutes)
        run_glinker(gk_python, work, ents, model, [], lambda q: False, [], 0.5, False, precompute_only=True)
        print(json.dumps({"prepared": str(work), "entities": len(qids)}))
        return
    ours = run_ours(overrides, kb5k, docs, ed)
    kb_has = kb_membership(ours["kb"], docs)
    # GLiNKER's L1 gets our detector's entity types and mention threshold (the configured ones)
    gk = run_glinker(gk_python, work, ents, model, docs, kb_has, ours["labels"], ours["threshold"], ed)
    def gk_at(t: float) -> list[list[tuple]]:
        return [[(p["start"], p["end"], p["qid"] if p["score"] is not None and p["score"] > t else None)
                 for p in preds] for preds in gk["e2e"]]

    # GLiNKER's default L3 threshold (0.5), and its best one on these very documents (an optimistic oracle)
    best_t = max(THRESHOLDS, key=lambda t: (score_e2e(docs, gk_at(t), kb_has).metrics()["f1"], -t))
    n = len(docs)
    rows = []
    gk_ed = _ed_for_glinker(docs, gk["ed"], kb_has) if ed else None
    gk_name = "GLiNKER 0.1.1 (GLiNER L1 mentions, dict L2 exact+fuzzy, GLiNER L3 over pooled candidates)"
    for name, e2e, secs, cpu, ed_score, rss in (
        ("glinker (ours: default `python -m glinker.link` pipeline)", ours["e2e"],
         ours["e2e_seconds"], ours["e2e_cpu_seconds"], ours.get("ed_score"), ours["peak_rss_mb"]),
        (f"{gk_name}, L3 threshold 0.5 (default)", gk_at(0.5), gk["e2e_seconds"], gk["e2e_cpu_seconds"], gk_ed,
         gk["peak_rss_mb"]),
        (f"{gk_name}, L3 threshold {best_t} (best F1 on these documents)", gk_at(best_t), gk["e2e_seconds"],
         gk["e2e_cpu_seconds"], gk_ed, gk["peak_rss_mb"]),
    ):
        m = score_e2e(docs, e2e, kb_has).metrics()
        row = {"system": name, "docs": n, "seconds": round(secs, 1), "docs_per_s": round(n / secs, 2),
               "cpu_s_per_doc": round(cpu / n, 3), "e2e_precision": m["precision"], "e2e_recall": m["recall"],
               "e2e_f1": m["f1"], "mentions": sum(len(x) for x in e2e),
               "linked": sum(q is not None for x in e2e for _, _, q in x), "peak_rss_mb": round(rss)}
        if ed_score is not None:
            em = ed_score.metrics()
            row.update(ed_accuracy=em.get("accuracy", 0.0), ed_mentions=em.get("scored_mentions", 0))
        rows.append(row)
    speedup = rows[0]["docs_per_s"] / rows[1]["docs_per_s"]
    print(f"Command: `python benchmarks/bench_glinker_ref.py {' '.join(argv)}` ({stamp()}); KB {len(qids)} entities, "
          f"{n} documents; GLiNKER entity pre-computation {gk['precompute_sample']} entities in "
          f"{gk['precompute_seconds']:.1f} s ({gk['precompute_sample'] / gk['precompute_seconds']:.1f} entities/s); "
          f"speed ratio {speedup:.2f}x", file=sys.stderr)
    print("| system | docs/s | CPU s/doc | ED accuracy | e2e P | e2e R | e2e F1 | mentions | linked | peak RSS MB |\n"
          "|---|---|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['system']} | {r['docs_per_s']} | {r['cpu_s_per_doc']} | {r.get('ed_accuracy', '-')} | "
              f"{r['e2e_precision']} | {r['e2e_recall']} | {r['e2e_f1']} | {r['mentions']} | {r['linked']} | "
              f"{r['peak_rss_mb']} |", file=sys.stderr)
    print(json.dumps({"rows": rows, "speedup": round(speedup, 2), "entities": len(qids), "docs": n,
                      "glinker_best_l3_threshold": best_t, "glinker_load_seconds": round(gk["load_seconds"], 1),
                      "glinker_precompute_entities_per_s": round(gk["precompute_sample"] / gk["precompute_seconds"], 1),
                      "ed_mentions": rows[0].get("ed_mentions")}))


if __name__ == "__main__":
    main(sys.argv[1:])
