"""Where linking time goes: ``glinker.link``'s pipeline under cProfile, stage by stage.

    python benchmarks/profile_link.py kb_dir=kb/arnold [docs=100] [labels=1|1024|FILE] [glinker.link overrides]

Loads the pipeline once, warms it on 4 documents, then links the first ``docs`` ELEVANT dev documents
(as ``bench_link.py`` does) under cProfile and prints, for each stage of the pipeline, its cumulative
seconds and its share of all linking; then a JSON line. The stages are functions of the pipeline's
classes, found by their code objects (so two methods both named ``retrieve`` are told apart); a nested
stage's time is inside its parent's. ``labels``: the detector's label set, as ``bench_link_labels.py``
builds it (``1``: "person"; ``N``: the first N names of ``runs/bench_labels/labels.txt``; a file: one name per
line); default: the configured labels.

cProfile adds a few percent to Python-heavy stages (features, coherence) and nothing to the encoders'
matrix products, so the shares are a fair picture; the absolute seconds are not the benchmark's.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import resource
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_link import load_texts  # noqa: E402
from common import key_value_options, stamp  # noqa: E402

from glinker.config import CONF_DIR  # noqa: E402

LABELS_FILE = ROOT / "runs" / "bench_labels" / "labels.txt"


def stages() -> list[tuple[str, int, object]]:
    """(name, depth, function) of the pipeline's stages, in the order a batch runs them."""
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.kb.index import FaissEntityIndex
    from glinker.kb.store import LmdbEntityStore
    from glinker.model.network import SpanBiEncoder
    from glinker.pipeline import Pipeline
    from glinker.rerank import coherence, context_names, features
    from glinker.rerank.ranker import FeatureReranker
    from glinker.retrieval.candidates import AliasRetriever, NameEncoder, NameRetriever, UnionRetriever
    from glinker.retrieval.demonyms import DemonymRetriever

    return [
        ("all linking (`Pipeline.link_batch`)", 0, Pipeline.link_batch),
        ("mention detection (`BiEncoderDetector.detect`)", 1, BiEncoderDetector.detect),
        ("text encoder (`SpanBiEncoder.word_states`)", 2, SpanBiEncoder.word_states),
        ("span head (`SpanBiEncoder.span_hidden_at`)", 2, SpanBiEncoder.span_hidden_at),
        ("candidate retrieval (`UnionRetriever.retrieve`)", 1, UnionRetriever.retrieve),
        ("exact alias lookup (`AliasRetriever.retrieve`)", 2, AliasRetriever.retrieve),
        ("demonyms (`DemonymRetriever.retrieve`)", 2, DemonymRetriever.retrieve),
        ("name retrieval (`NameRetriever.retrieve`)", 2, NameRetriever.retrieve),
        ("mention strings through the label tower (`NameEncoder.encode`)", 3, NameEncoder.encode),
        ("name index search (`FaissEntityIndex.search`)", 3, FaissEntityIndex.search),
        ("reranking and NIL (`FeatureReranker._rerank`)", 1, FeatureReranker._rerank),
        ("context cells through the label tower (`_context_sims`)", 2, FeatureReranker._context_sims),
        ("type scores (`features.type_scores`)", 2, features.type_scores),
        ("class names through the label tower, once per name (`label_vectors`)", 3, BiEncoderDetector.label_vectors),
        ("mention-name similarities (`_name_sims`)", 2, FeatureReranker._name_sims),
        ("per-candidate features (`features.candidate_features`)", 2, features.candidate_features),
        ("context names (`context_names.context_name_scores`)", 2, context_names.context_name_scores),
        ("coherence (`coherence.add_coherence`)", 2, coherence.add_coherence),
        ("entity records from LMDB (`LmdbEntityStore.get_many`)", 1, LmdbEntityStore.get_many),
    ]


def _key(fn) -> tuple[str, int, str]:
    code = getattr(fn, "__wrapped__", fn).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def _labels(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    if spec.isdigit():
        n = int(spec)
        if n == 1:
            return ["person"]
        if not LABELS_FILE.is_file():
            raise SystemExit(f"{LABELS_FILE} is not there: run benchmarks/bench_link_labels.py once to write it")
        names = [x for x in LABELS_FILE.read_text(encoding="utf-8").splitlines() if x.strip()]
        if len(names) < n:
            raise SystemExit(f"{LABELS_FILE} holds {len(names)} label names, fewer than labels={n}")
        return names[:n]
    return [x for x in Path(spec).read_text(encoding="utf-8").splitlines() if x.strip()]


def main(argv: list[str]) -> None:
    from glinker.config import build_pipeline
    from glinker.types import Document

    opts, overrides = key_value_options(argv, {"docs": "100", "labels": ""}, passthrough=True)
    n = int(opts["docs"])
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=overrides)
    pipeline = build_pipeline(cfg)
    wanted = stages()  # before linking: a renamed stage fails here, not after the run
    labels = _labels(opts["labels"])
    if labels is not None:
        pipeline.labels = labels
    texts = load_texts(n)
    pipeline.link_batch([Document(f"warm{i}", t) for i, t in enumerate(texts[:4])])
    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in pipeline(docs):
        pass
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    rows = []
    for name, depth, fn in wanted:
        entry = stats.get(_key(fn))
        rows.append({"stage": name, "depth": depth, "calls": entry[1] if entry else 0,
                     "seconds": round(entry[3], 2) if entry else 0.0})
    total = rows[0]["seconds"] or wall
    mentions = sum(len(d.mentions) for d in docs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Command: `python benchmarks/profile_link.py {' '.join(argv)}` ({stamp()}); {n} documents, "
          f"{mentions} mentions, {wall:.1f} s under cProfile ({n / wall:.2f} docs/s), peak RSS {peak:.0f} MB",
          file=sys.stderr)
    print("| stage | calls | seconds | share of linking |\n|---|---|---|---|", file=sys.stderr)
    for r in rows:
        indent = "&nbsp;&nbsp;" * r["depth"]
        print(f"| {indent}{r['stage']} | {r['calls']} | {r['seconds']:.2f} | {100 * r['seconds'] / total:.1f} % |",
              file=sys.stderr)
    print(json.dumps({"docs": n, "mentions": mentions, "wall_seconds": round(wall, 1), "rows": rows,
                      "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main(sys.argv[1:])
