"""End-to-end linking throughput on the shared EL dev texts, document batching on and off, in one run.

    python scripts/bench_link.py kb_dir=kb/arnold [docs=1000] [batch_sizes=[1,16]] [glinker.link overrides]

Loads the pipeline once, warms it up on 4 documents, then links the first
``docs`` documents of the ELEVANT dev benchmarks (cycling if fewer) at each
batch size. Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glinker.config import CONF_DIR  # noqa: E402
from glinker.settings import data_dir  # noqa: E402

DEV = ["aida-conll-dev", "oke-2016-train", "msnbc", "spotlight", "oke-2015-train", "derczynski", "news-fair",
       "wiki-fair"]


def load_texts(n: int) -> list[str]:
    texts = []
    for name in DEV:
        path = data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl"
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise SystemExit(f"no benchmark texts under {data_dir()}")
    return [texts[i % len(texts)] for i in range(n)]


def main(argv: list[str]) -> None:
    from glinker.link import build_pipeline
    from glinker.types import Document

    opts = dict(a.split("=", 1) for a in argv if a.split("=", 1)[0] in ("docs", "batch_sizes"))
    overrides = [a for a in argv if a.split("=", 1)[0] not in opts]
    n = int(opts.get("docs", 1000))
    sizes = [int(x) for x in opts.get("batch_sizes", "[1,16]").strip("[]").split(",")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="link", overrides=overrides)
    pipeline = build_pipeline(cfg)
    texts = load_texts(n)
    chars = sum(len(t) for t in texts)
    pipeline.link_batch([Document(str(i), t) for i, t in enumerate(texts[:4])])  # warm-up
    rows = []
    for bs in sizes:
        pipeline.batch_size = bs
        docs = [Document(str(i), t) for i, t in enumerate(texts)]
        start = time.perf_counter()
        for _ in pipeline(docs):
            pass
        elapsed = time.perf_counter() - start
        mentions = sum(len(d.mentions) for d in docs)
        rows.append({"batch_size": bs, "docs": n, "seconds": round(elapsed, 1), "docs_per_s": round(n / elapsed, 2),
                     "kchars_per_s": round(chars / elapsed / 1000, 1), "mentions": mentions,
                     "linked": sum(m.qid is not None for d in docs for m in d.mentions)})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d}, {platform.machine()}"
    print(f"Command: `python scripts/bench_link.py {' '.join(argv)}` ({stamp}); peak RSS {peak:.0f} MB", file=sys.stderr)
    print("| batch size | docs | seconds | docs/s | kchars/s | mentions | linked |\n|---|---|---|---|---|---|---|",
          file=sys.stderr)
    for r in rows:
        print(f"| {r['batch_size']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | {r['kchars_per_s']} | "
              f"{r['mentions']} | {r['linked']} |", file=sys.stderr)
    print(json.dumps({"rows": rows, "peak_rss_mb": round(peak), "kb": str(pipeline.kb.path)}))


if __name__ == "__main__":
    main(sys.argv[1:])
