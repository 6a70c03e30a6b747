"""End-to-end linking throughput on the shared EL dev texts, in one run.

    python benchmarks/bench_link.py kb_dir=kb/arnold [docs=1000] [batch_sizes=[1,16]] [glinker.link overrides]
    python benchmarks/bench_link.py kb_dir=kb/arnold docs=1000 cli=true [trees=[REV,.]] [glinker.link overrides]
    python benchmarks/bench_link.py kb_dir=kb/arnold docs=1000 cli=true "trees=[.,.|reranker.context_windows=shared]"

In-process (default): loads the pipeline once, warms it up on 4 documents, then
links the first ``docs`` documents of the ELEVANT dev benchmarks (cycling if
fewer) at each batch size.

``cli=true``: runs ``python -m glinker.link kb_dir=... input=docs.jsonl`` as a
subprocess for each source tree in ``trees`` (a git revision, exported with
``git archive``, or ``.`` for the working tree; default ``[.]``; ``TREE|key=value|…``
adds overrides for that run only, to compare two configurations) and reports its
docs/s (the CLI's own count, model and KB loading excluded), CPU seconds and
peak RSS of the whole process; the JSONL of every tree is compared with the
first tree's (same mentions, same QIDs), so a speed change is checked for
changed output in the same run. A tree whose run fails gets a "failed" row saying why, the others
are still measured, and the script exits 1. Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

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
    from glinker.config import build_pipeline
    from glinker.types import Document

    # the other arguments are glinker.link overrides (kb_dir=..., batch_size=...)
    opts, overrides = key_value_options(argv, {"docs": "1000", "batch_sizes": "[1,16]", "cli": "false", "trees": "[.]"},
                                        passthrough=True)
    n = int(opts["docs"])
    if opts["cli"].lower() in ("1", "true", "yes"):
        trees = [t.strip() for t in opts["trees"].strip("[]").split(",") if t.strip()]
        return main_cli(argv, n, trees, overrides)
    sizes = [int(x) for x in opts["batch_sizes"].strip("[]").split(",")]
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
    print(f"Command: `python benchmarks/bench_link.py {' '.join(argv)}` ({stamp()}); peak RSS {peak:.0f} MB",
          file=sys.stderr)
    print("| batch size | docs | seconds | docs/s | kchars/s | mentions | linked |\n|---|---|---|---|---|---|---|",
          file=sys.stderr)
    for r in rows:
        print(f"| {r['batch_size']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | {r['kchars_per_s']} | "
              f"{r['mentions']} | {r['linked']} |", file=sys.stderr)
    print(json.dumps({"rows": rows, "peak_rss_mb": round(peak), "kb": str(pipeline.kb.path)}))


_LOG = re.compile(r"linked (\d+) documents \((\d+) mentions, (\d+) linked.*?in ([\d.]+) s")


def _source_tree(rev: str, tmp: Path) -> Path:
    """``.``: this working tree; else a clean export of a git revision (``git archive``, no .git changes)."""
    if rev == ".":
        return ROOT
    dest = tmp / re.sub(r"[^\w.-]", "_", rev)
    dest.mkdir()
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_cli(tree: Path, docs: Path, out: Path, overrides: list[str]) -> dict:
    """One ``python -m glinker.link`` run from ``tree``; its own rusage (peak RSS, CPU) via wait4."""
    env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
    kb = [a for a in overrides if a.startswith("kb_dir=")]
    args = [a for a in overrides if not a.startswith("kb_dir=")]
    kb_arg = [f"kb_dir={(ROOT / kb[-1].split('=', 1)[1]).resolve()}"] if kb else []
    start = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        cmd = [sys.executable, "-m", "glinker.link", *kb_arg, f"input={docs}", f"output={out}", *args]
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stderr=log, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN would pool them)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    text = out.with_suffix(".log").read_text()
    m = _LOG.search(text)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"glinker.link from {tree} failed:\n{text[-2000:]}")
    ndocs, mentions, linked, secs = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    return {"docs": ndocs, "seconds": secs, "docs_per_s": round(ndocs / secs, 2), "wall_seconds": round(wall, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "mentions": mentions, "linked": linked}


def _links(path: Path) -> dict[str, list[tuple]]:
    with open(path, encoding="utf-8") as fh:
        return {d["id"]: [(m["start"], m["end"], m["qid"]) for m in d["mentions"]] for d in map(json.loads, fh)}


def main_cli(argv: list[str], n: int, trees: list[str], overrides: list[str]) -> None:
    """``cli=true``: the CLI over ``n`` documents from each source tree, outputs compared with the first tree's."""
    texts = load_texts(n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_link_") as tmp_name:
        tmp = Path(tmp_name)
        docs = tmp / "docs.jsonl"
        docs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
        first = None
        exported: dict[str, Path] = {}
        for entry in trees:
            rev, *extra = entry.split("|")
            if rev not in exported:
                exported[rev] = _source_tree(rev, tmp)
            out = tmp / f"out-{len(rows)}.jsonl"
            try:
                row = {"tree": entry, **run_cli(exported[rev], docs, out, [*overrides, *extra])}
            except SystemExit as exc:  # one failed tree (a bad override, say) leaves the others' figures standing
                said = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
                reason = next((ln for ln in said if "error" in ln.lower() or ln.startswith("Could not")), None)
                rows.append({"tree": entry, "error": reason or (said[-1] if said else "glinker.link failed")})
                print(f"[bench_link] {rows[-1]}", file=sys.stderr, flush=True)
                continue
            links = _links(out)
            if first is None:
                first = links
            row["docs_same_as_first"] = sum(links.get(k) == v for k, v in first.items())
            row["mentions_same_as_first"] = sum(len(set(links.get(k, [])) & set(v)) for k, v in first.items())
            rows.append(row)
            print(f"[bench_link] {row}", file=sys.stderr, flush=True)
    print(f"Command: `python benchmarks/bench_link.py {' '.join(argv)}` ({stamp()})", file=sys.stderr)
    print("| tree | docs | link s | docs/s | process CPU s | wall s (with loading) | peak RSS MB | mentions | linked "
          "| docs identical to first | mentions identical to first |\n|---|---|---|---|---|---|---|---|---|---|---|",
          file=sys.stderr)
    done = [r for r in rows if "error" not in r]
    for r in rows:
        if "error" in r:
            print(f"| {r['tree']} | failed: {r['error']} |" + " |" * 9, file=sys.stderr)
            continue
        print(f"| {r['tree']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | {r['cpu_seconds']} | "
              f"{r['wall_seconds']} | {r['peak_rss_mb']} | {r['mentions']} | {r['linked']} | "
              f"{r['docs_same_as_first']}/{r['docs']} | {r['mentions_same_as_first']}/{done[0]['mentions']} |",
              file=sys.stderr)
    print(json.dumps({"rows": rows}))
    if len(done) < len(rows):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
