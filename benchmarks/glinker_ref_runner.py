"""Drives Knowledgator's GLiNKER (PyPI ``glinker==0.1.1``) for ``benchmarks/bench_glinker_ref.py``.

Runs inside a separate virtualenv where ``import glinker`` is Knowledgator's
package (this project's import package has the same name), so it imports
nothing from this repository::

    /tmp/gk/bin/python benchmarks/glinker_ref_runner.py request.json result.json

The request names the local GLiNER checkpoint folder, the entity JSONL, the
labels and thresholds, and the documents (with gold spans for the ED pass).
The pipeline is GLiNKER's own: ``ConfigBuilder`` → L1 GLiNER mentions → L2
dict layer (exact + fuzzy search) → L3 GLiNER scoring each text's candidates
as labels ``"{label}: {description}"`` with pre-computed label embeddings →
L0 aggregation. Output: per document the linked mentions (start, end,
entity id) and the timings.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _builder(req: dict, with_l1: bool):
    from glinker import ConfigBuilder

    b = ConfigBuilder(name="glinker_ref")
    if with_l1:
        b.l1.gliner(model=req["model"], labels=req["labels"], threshold=req["l1_threshold"], flat_ner=True,
                    batch_size=req["batch_size"], max_length=req["max_length"],
                    use_precomputed_embeddings=req["l1_precomputed_labels"])
    else:  # ED: L1 must be configured for build(); its node is replaced by the gold spans below
        b.l1.gliner(model=req["model"], labels=req["labels"])
    b.l2.add("dict", search_mode=req["l2_search_mode"])
    b.l2.embeddings(enabled=True, model_name=req["model"], dim=req["dim"])
    b.l3.configure(model=req["model"], threshold=req["l3_threshold"] if with_l1 else req["ed_l3_threshold"],
                   use_precomputed_embeddings=True, max_length=req["max_length"])
    b.set_schema_template(req["template"])
    config = b.build()
    if not with_l1:
        # gold mentions come in as the pipeline input ("$input".l1_entities) instead of from L1
        config["nodes"] = [n for n in config["nodes"] if n["id"] != "l1"]
        for node in config["nodes"]:
            node["requires"] = [r for r in node.get("requires", []) if r != "l1"]
            for spec in node["inputs"].values():
                if spec["source"] == "l1_result":
                    spec["source"], spec["fields"] = "$input", "l1_entities"
    return config


def _executor(req: dict, with_l1: bool, records=None):
    """A GLiNKER pipeline with the entities loaded (``records``: already embedded ones, else the JSONL)."""
    from glinker import ProcessorFactory

    executor = ProcessorFactory.create_from_dict(_builder(req, with_l1))
    if records is None:
        executor.load_entities(req["entities"])
    else:
        executor.processors["l2"].component.load_records(records)
    return executor


def _read_records(path: Path) -> list:
    from glinker.l2.models import DatabaseRecord

    with open(path, encoding="utf-8") as fh:
        return [DatabaseRecord(**json.loads(line)) for line in fh if line.strip()]


def _write_records(records: list, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.model_dump()) + "\n")
    tmp.replace(path)


def _linked(l0_result) -> list[list[dict]]:
    out = []
    for ents in l0_result.entities:
        # L0 says "unknown" when L3's label matched none of the mention's candidates
        out.append([{"start": e.mention_start, "end": e.mention_end, "text": e.mention_text,
                     "qid": None if e.linked_entity is None or e.linked_entity.entity_id == "unknown"
                     else e.linked_entity.entity_id,
                     "score": e.linked_entity.confidence if e.linked_entity else None,
                     "candidate_ids": [c.entity_id for c in e.candidates]}
                    for e in ents])
    return out


def main(req_path: str, out_path: str) -> None:
    import torch

    with open(req_path, encoding="utf-8") as fh:
        req = json.load(fh)

    if req.get("threads"):
        torch.set_num_threads(int(req["threads"]))
    result: dict = {}
    docs = req["docs"]
    bs = req["batch_size"]

    cache = Path(req["embedded_cache"])
    t0 = time.perf_counter()
    if cache.exists():
        # entity embeddings of an earlier run (same entities, model and template: the caller keys the path)
        executor = _executor(req, with_l1=True, records=_read_records(cache))
    else:
        executor = _executor(req, with_l1=True)
        executor.precompute_embeddings(batch_size=32)
        _write_records(executor.processors["l2"].component.get_all_entities(), cache)
    result["load_seconds"] = time.perf_counter() - t0
    result["entities"] = sum(sum(c.values()) for c in executor.count_entities().values())
    if req.get("precompute_only"):
        Path(out_path).write_text(json.dumps(result), encoding="utf-8")
        return
    # entity pre-computation rate, measured on a sample through the call precompute_embeddings makes
    sample = [req["template"].format(**r.model_dump())
              for r in executor.processors["l2"].component.get_all_entities()[: req["precompute_sample"]]]
    t0 = time.perf_counter()
    executor.processors["l3"].component.encode_labels(sample, batch_size=32)
    result["precompute_sample"], result["precompute_seconds"] = len(sample), time.perf_counter() - t0
    texts = [d["text"] for d in docs]
    executor.execute({"texts": texts[:2]})  # warm-up
    t0, cpu = time.perf_counter(), time.process_time()
    e2e: list[list[dict]] = []
    for s in range(0, len(texts), bs):
        ctx = executor.execute({"texts": texts[s : s + bs]})
        e2e.extend(_linked(ctx.get("l0_result")))
        print(f"[glinker_ref] e2e {min(s + bs, len(texts))}/{len(texts)}", file=sys.stderr, flush=True)
    result["e2e_seconds"] = time.perf_counter() - t0
    result["e2e_cpu_seconds"] = time.process_time() - cpu
    result["e2e"] = e2e

    if req.get("ed", True):
        from glinker.l1.models import L1Entity

        # the ED pipeline reuses the entity records embedded above (same model, same template)
        ed_exec = _executor(req, with_l1=False, records=executor.processors["l2"].component.get_all_entities())
        ed: list[list[dict]] = []
        t0 = time.perf_counter()
        for s in range(0, len(docs), bs):
            chunk = docs[s : s + bs]
            l1 = [[L1Entity(text=d["text"][a:b], start=a, end=b, left_context=d["text"][max(0, a - 50):a].strip(),
                            right_context=d["text"][b:b + 50].strip()) for a, b in d["gold_spans"]] for d in chunk]
            ctx = ed_exec.execute({"texts": [d["text"] for d in chunk], "l1_entities": l1})
            ed.extend(_linked(ctx.get("l0_result")))
        result["ed_seconds"] = time.perf_counter() - t0
        result["ed"] = ed
    result["peak_rss_mb"] = peak_rss_mb()
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ``getrusage``: after fork + exec its ``ru_maxrss``
    starts from the parent's peak (Linux keeps the forked copy's high-water mark across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: glinker_ref_runner.py REQUEST.json RESULT.json")
    main(sys.argv[1], sys.argv[2])
