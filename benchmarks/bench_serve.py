"""HTTP serving throughput and latency against in-process Pipeline batches, on the same documents, in one run.

    python benchmarks/bench_serve.py [kb_dir=DIR] [docs=64] [clients=[1,4,16]] [seconds=120] [rss_requests=10000]

1. ``python -m glinker.link`` (Pipeline batches of ``batch_size``) over the first ``docs`` documents
   of the shared ELEVANT dev texts (those of ``benchmarks/bench_link.py``): its own docs/s, model and
   KB loading excluded, measured before and after the server runs (the machine may be shared: the
   two bound the drift).
2. ``python -m glinker.serve`` in a subprocess on a free port; for each client count, that many
   threads each POST one document at a time to ``/link`` until the same ``docs`` documents are
   linked (or ``seconds`` pass): docs/s and p50 / p95 / p99 latency per request.
3. RSS of the server process after 100 and after ``rss_requests`` requests of short documents
   (one sentence each, ``rss_clients`` clients; bounded by ``rss_seconds``).

Prints a Markdown table on stderr and a JSON line on stdout. Other options:
``window_ms`` / ``max_batch_docs`` (the server's batching), ``batch_size`` (Pipeline batches).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_link import load_texts, run_cli  # noqa: E402
from common import key_value_options, stamp  # noqa: E402

DEFAULTS = {"kb_dir": "", "docs": "64", "clients": "[1,4,16]", "seconds": "120", "rss_requests": "10000",
            "rss_clients": "16", "rss_seconds": "900", "window_ms": "5", "max_batch_docs": "32", "batch_size": "16"}


def cli_docs_per_s(kb_dir: str, docs: Path, out: Path, batch_size: int) -> float:
    """docs/s of ``python -m glinker.link`` over ``docs`` (its own count: model and KB loading excluded)."""
    kb = [f"kb_dir={Path(kb_dir).resolve()}"] if kb_dir else []
    return run_cli(ROOT, docs, out, [*kb, f"batch_size={batch_size}", "progress=false"])["docs_per_s"]


def rss_mb(pid: int) -> float:
    """Resident set size of a process (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(args: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen([sys.executable, "-m", "glinker.serve", f"port={port}", "log_level=warning", *args],
                            stderr=open(log, "w"), stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not become ready in 10 minutes")


def load(url: str, texts: list[str], clients: int, seconds: float) -> dict:
    """``clients`` threads POST the texts one by one to /link; docs/s and latency percentiles (ms)."""
    todo: queue.Queue[str] = queue.Queue()
    for t in texts:
        todo.put(t)
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=600) as http:
            while time.monotonic() < stop_at:
                try:
                    text = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                r = http.post(f"{url}/link", json={"text": text})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {"clients": clients, "docs": len(ordered), "seconds": round(elapsed, 1),
            "docs_per_s": round(len(ordered) / elapsed, 2), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99)}


def short_texts(texts: list[str]) -> list[str]:
    """One-sentence documents (40 to 160 characters) cut from the benchmark texts."""
    out = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if 40 <= len(s.strip()) <= 160]
    return out or ["Arnold Schwarzenegger starred in The Terminator."]


def main(argv: list[str]) -> None:
    opts = key_value_options(argv, DEFAULTS)
    n = int(opts["docs"])
    clients = [int(x) for x in opts["clients"].strip("[]").split(",") if x.strip()]
    texts = load_texts(n)
    kb = [f"kb_dir={opts['kb_dir']}"] if opts["kb_dir"] else []
    batch_size = int(opts["batch_size"])
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # as the server's environment
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        docs = Path(tmp) / "docs.jsonl"
        docs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
        print(f"[bench_serve] glinker.link, batches of {batch_size}, over {n} docs ...", file=sys.stderr, flush=True)
        before = cli_docs_per_s(opts["kb_dir"], docs, Path(tmp) / "before.jsonl", batch_size)
        log = Path(tmp) / "server.log"
        proc, url = start_server([*kb, f"batching.window_ms={opts['window_ms']}",
                                  f"batching.max_docs={opts['max_batch_docs']}", "limits.max_queue_docs=100000"], log)
        try:
            load(url, texts[:4], 1, 60)  # warm-up
            for c in clients:
                rows.append(load(url, texts, c, float(opts["seconds"])))
                print(f"[bench_serve] {rows[-1]}", file=sys.stderr, flush=True)
            shorts = short_texts(texts)
            total, rss_clients = int(opts["rss_requests"]), int(opts["rss_clients"])
            first = load(url, [shorts[i % len(shorts)] for i in range(100)], rss_clients, float(opts["rss_seconds"]))
            rss_100 = rss_mb(proc.pid)
            rest = load(url, [shorts[i % len(shorts)] for i in range(100, total)], rss_clients,
                        float(opts["rss_seconds"]))
            rss_total = rss_mb(proc.pid)
            served = first["docs"] + rest["docs"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        after = cli_docs_per_s(opts["kb_dir"], docs, Path(tmp) / "after.jsonl", batch_size)
    base = (before + after) / 2
    print(f"Command: `python benchmarks/bench_serve.py {' '.join(argv)}` ({stamp()})", file=sys.stderr)
    print(f"glinker.link (Pipeline batches of {batch_size}): {before:.2f} docs/s before, {after:.2f} after the server "
          f"runs (mean {base:.2f})", file=sys.stderr)
    print("| clients | docs | seconds | docs/s | × glinker.link | p50 ms | p95 ms | p99 ms |\n"
          "|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['clients']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | {r['docs_per_s'] / base:.2f} | "
              f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |", file=sys.stderr)
    print(f"Server RSS: {rss_100:.0f} MB after 100 short-document requests, {rss_total:.0f} MB after {served:,} "
          f"({rest['docs_per_s']} docs/s at {rss_clients} clients, p99 {rest['p99_ms']} ms)", file=sys.stderr)
    print(json.dumps({"cli_docs_per_s": [round(before, 2), round(after, 2)], "rows": rows,
                      "rss_mb": {"100": round(rss_100), str(served): round(rss_total)}, "short_docs": rest}))


if __name__ == "__main__":
    main(sys.argv[1:])
