"""Linking time and memory against document length: one document of 1k to 1M words per run.

    python benchmarks/bench_long_docs.py [words=[1000,10000,100000,1000000]] [trees=[.]] [timeout=0]
        [threads=N] [kb_dir=DIR] [out=bench_long_docs.json]
    python benchmarks/bench_long_docs.py quality=[msnbc,news-fair,wiki-fair] [kb_dir=DIR] [out=...]

Each document is built from real text: the paragraphs (blank-line separated) of the shared
ELEVANT benchmarks news-fair, wiki-fair, msnbc and aida-conll-dev (an AIDA document has no blank
lines: it is one paragraph), in that order, joined with blank lines, cycling when they run out
(about 105k distinct words), until the word count is reached. Each (tree, size) runs in a fresh
subprocess: ``glinker.load()`` (default model, demo KB unless ``kb_dir``), a warm-up
sentence, then one ``link_text`` of the whole document, timed in the child; the child's peak RSS
comes from ``os.wait4`` (its own ``ru_maxrss``). ``trees``: ``.`` (this working tree) or git
revisions, exported with ``git archive`` (``trees=[HEAD~1,.]`` for a before/after). ``timeout``:
seconds per run (0: none); a run past it is reported as timed out. ``threads``: the child's
``OMP_NUM_THREADS`` (default: torch's own choice, one per core); on a machine shared with other
work, ``threads=1`` keeps torch's threads from waiting on each other.

Prints a Markdown table (seconds per 1k words and its ratio to the 1k-word run of the same tree),
the machine and date, and writes the JSON record to ``out``.

``quality=[...]``: instead, what linking in pieces does to accuracy. Every document of the named
ELEVANT benchmarks is linked whole, then in pieces as if it were long (``whole_chars=0``: detection
per paragraph, coherence from the default neighbourhood), then in pieces with no neighbourhood
(``neighbourhood_chars=0``: no coherence votes), each scored end to end (in-KB micro F1,
:func:`glinker.evaluate.el.evaluate_e2e`), in this process.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["news-fair", "wiki-fair", "msnbc", "aida-conll-dev"]
DEFAULTS = {"words": "[1000,10000,100000,1000000]", "trees": "[.]", "timeout": "0", "threads": "", "kb_dir": "",
            "out": "bench_long_docs.json", "quality": ""}
# quality=: pipeline settings compared (over the defaults)
MODES = {"whole": {"whole_chars": None}, "in pieces": {"whole_chars": 0},
         "in pieces, no neighbourhood": {"whole_chars": 0, "neighbourhood_chars": 0}}


def paragraphs(data: Path) -> list[str]:
    """The paragraphs of the source benchmarks, in order."""
    out = []
    for name in SOURCES:
        path = data / "el" / "elevant" / f"{name}.benchmark.jsonl"
        if not path.is_file():
            raise SystemExit(f"benchmark texts not found: {path} (set GLINKER_DATA_DIR to the shared data folder)")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out += [p.strip() for p in re.split(r"\n\s*\n", json.loads(line)["text"]) if p.strip()]
    return out


def document(paras: list[str], words: int) -> str:
    """Whole paragraphs, cycling, until at least ``words`` words."""
    picked, n, i = [], 0, 0
    while n < words:
        p = paras[i % len(paras)]
        picked.append(p)
        n += len(p.split())
        i += 1
    return "\n\n".join(picked)


def child(path: str, kb_dir: str) -> None:
    """Runs in the subprocess, with the tree under test first on sys.path: link one document, print a JSON line."""
    import resource

    import glinker

    text = Path(path).read_text(encoding="utf-8")
    nlp = glinker.load(kb_dir=kb_dir or None)
    nlp.link_text("Arnold Schwarzenegger, the former governor of California, starred in The Terminator.")
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu = time.perf_counter(), time.process_time()
    doc = nlp.link_text(text)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": round(seconds, 2), "link_cpu_seconds": round(cpu, 2), "mentions": len(doc.mentions),
                      "linked": sum(m.qid is not None for m in doc.mentions), "rss_loaded_mb": round(loaded)}))


def run_one(tree: Path, doc: Path, kb_dir: str, timeout: float, threads: str) -> dict:
    """One child run from ``tree``: the child's timing plus its own peak RSS (``os.wait4``)."""
    env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1")
    if threads:
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), f"child={doc}", f"kb_dir={kb_dir}"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the child and nothing else
                timed_out = True
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode().strip().splitlines()
        log = err.read().decode()
    row = {"peak_rss_mb": round(usage.ru_maxrss / 1024), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}
    if timed_out:
        return {**row, "timed_out": True, "seconds": None}
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the run from {tree} failed (exit {proc.returncode}):\n{log[-2000:]}")
    return {**row, **json.loads(lines[-1]), "timed_out": False}


def machine() -> str:
    """CPU model and Python version, for the table (next to the stamp's date, architecture and cores)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, Python {platform.python_version()}"


def quality(names: list[str], kb_dir: str) -> list[dict]:
    """End-to-end scores of the benchmarks ``names`` under each of :data:`MODES`."""
    import glinker
    from glinker.evaluate.el import evaluate_e2e, load_benchmark
    from glinker.settings import data_dir

    nlp = glinker.load(kb_dir=kb_dir or None)
    defaults = {"whole_chars": nlp.whole_chars, "neighbourhood_chars": nlp.neighbourhood_chars}
    rows = []
    for name in names:
        docs = load_benchmark(data_dir() / "el" / "elevant" / f"{name}.benchmark.jsonl")
        for mode, settings in MODES.items():
            for key, value in (defaults | settings).items():
                setattr(nlp, key, value)
            m = evaluate_e2e(nlp, docs).metrics()
            rows.append({"benchmark": name, "mode": mode, **{k: m[k] for k in ("f1", "precision", "recall", "tp",
                                                                                 "fp", "fn")}})
            print(f"[bench_long_docs] {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def write_json(path: Path, record: dict) -> None:
    """Atomic: a temporary file in the same folder, renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    from common import key_value_options, stamp  # benchmarks/common.py

    if argv and argv[0].startswith("child="):
        opts = key_value_options(argv, {"child": "", "kb_dir": ""})
        return child(opts["child"], opts["kb_dir"])
    sys.path.insert(0, str(ROOT))
    from bench_link import _source_tree as source_tree  # a git revision exported with git archive

    from glinker.settings import data_dir

    opts = key_value_options(argv, DEFAULTS)
    stamped = stamp()
    if opts["quality"]:
        rows = quality([n.strip() for n in opts["quality"].strip("[]").split(",") if n.strip()], opts["kb_dir"])
        record = {"command": "python benchmarks/bench_long_docs.py " + " ".join(argv), "stamp": stamped,
                  "machine": machine(), "rows": rows}
        write_json(Path(opts["out"]), record)
        print(f"Command: `{record['command']}` ({stamped}; {record['machine']})")
        print("| benchmark | linked | e2e F1 | P | R | tp | fp | fn |\n|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['benchmark']} | {r['mode']} | {r['f1']} | {r['precision']} | {r['recall']} | {r['tp']} | "
                  f"{r['fp']} | {r['fn']} |")
        return
    sizes = [int(x) for x in opts["words"].strip("[]").split(",") if x.strip()]
    trees = [t.strip() for t in opts["trees"].strip("[]").split(",") if t.strip()]
    kb_dir = str(Path(opts["kb_dir"]).resolve()) if opts["kb_dir"] else ""
    paras = paragraphs(data_dir())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_long_docs_") as tmp_name:
        tmp = Path(tmp_name)
        exported = {rev: source_tree(rev, tmp) for rev in dict.fromkeys(trees)}
        for rev in trees:
            for words in sizes:
                text = document(paras, words)
                doc = tmp / "doc.txt"
                doc.write_text(text, encoding="utf-8")
                row = {"tree": rev, "words": len(text.split()), "chars": len(text),
                       **run_one(exported[rev], doc, kb_dir, float(opts["timeout"]), opts["threads"])}
                if row["seconds"] is not None:
                    row["s_per_1k_words"] = round(row["seconds"] / row["words"] * 1000, 3)
                    row["cpu_s_per_1k_words"] = round(row["link_cpu_seconds"] / row["words"] * 1000, 3)
                rows.append(row)
                print(f"[bench_long_docs] {row}", file=sys.stderr, flush=True)
    for row in rows:
        base = next((r for r in rows if r["tree"] == row["tree"] and r.get("s_per_1k_words")), None)
        if row.get("s_per_1k_words") and base:
            row["ratio_to_first"] = round(row["s_per_1k_words"] / base["s_per_1k_words"], 2)
            row["cpu_ratio_to_first"] = round(row["cpu_s_per_1k_words"] / base["cpu_s_per_1k_words"], 2)
    record = {"command": "python benchmarks/bench_long_docs.py " + " ".join(argv), "stamp": stamped,
              "machine": machine(), "torch_threads": opts["threads"] or "default", "sources": SOURCES, "rows": rows}
    write_json(Path(opts["out"]), record)
    print(f"Command: `{record['command']}` ({stamped}; {record['machine']}; torch threads {record['torch_threads']})")
    print("| tree | words | characters | mentions | linked | link s (CPU s) | s per 1k words (CPU) | × first size "
          "(CPU) | peak RSS MB | RSS after loading MB |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["timed_out"]:
            cells = ["–", "–", f"> {opts['timeout']} (stopped)", "–", "–", f"{r['peak_rss_mb']:,}"]
        else:
            cells = [f"{r['mentions']:,}", f"{r['linked']:,}", f"{r['seconds']:.1f} ({r['link_cpu_seconds']:.1f})",
                     f"{r['s_per_1k_words']:.3f} ({r['cpu_s_per_1k_words']:.3f})",
                     f"{r.get('ratio_to_first', 1.0):.2f} ({r.get('cpu_ratio_to_first', 1.0):.2f})",
                     f"{r['peak_rss_mb']:,}"]
        loaded = f"{r['rss_loaded_mb']:,}" if "rss_loaded_mb" in r else "–"
        print(f"| {r['tree']} | {r['words']:,} | {r['chars']:,} | " + " | ".join(cells) + f" | {loaded} |")


if __name__ == "__main__":
    main(sys.argv[1:])
