"""KB build with the local engine and with Ray (``engine=ray``), side by side in one run.

    python benchmarks/bench_kb_engine.py [dump=PATH] [popularity=PATH] [work_dir=DIR] [actors=2] [cpus_per_actor=1]

Each engine runs ``python -m kb_build`` as its own process on the same dump (default: the shared
arnold slice) into ``work_dir`` (default ``runs/bench/kb_engine``). Reports wall seconds, the
embedding step's seconds (Ray: the step after reading; local: embedding runs while reading),
entities per second, the kb_build process's peak RSS (the Ray actors' memory is not in it), and
checks that both KBs hold the same vectors (least per-row cosine of the span-space and sentence
embeddings). Prints a Markdown table and a JSON line last.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

from glinker.settings import data_dir  # noqa: E402


def _least_cosine(a: Path, b: Path) -> float:
    x = np.load(a).astype(np.float32)
    y = np.load(b).astype(np.float32)
    if x.shape != y.shape:
        return float("nan")
    cos = (x * y).sum(1) / np.linalg.norm(x, axis=1).clip(1e-9) / np.linalg.norm(y, axis=1).clip(1e-9)
    return float(cos.min())


def main(argv: list[str]) -> None:
    data = data_dir()
    opts = key_value_options(argv, {"dump": str(data / "wikidata/arnold/arnold-dump.json.gz"),
                                    "popularity": str(data / "wikidata/arnold/arnold-popularity.tsv.gz"),
                                    "work_dir": "runs/bench/kb_engine", "actors": "2", "cpus_per_actor": "1"})
    dump, popularity = opts["dump"], opts["popularity"]
    if not Path(dump).is_file():
        sys.exit(f"dump not found: {dump} (set GLINKER_DATA_DIR or pass dump=PATH)")
    work = Path(opts["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    actors, cpus = int(opts["actors"]), int(opts["cpus_per_actor"])
    engines = {
        "local (in-process, torch threads = all cores)": ["engine=local"],
        f"ray ({actors} actors x {cpus} CPU, Ray Data map_batches)": [
            "engine=ray", f"ray.actors={actors}", f"ray.cpus_per_actor={cpus}"],
    }
    rows, out_dirs = [], []
    for name, over in engines.items():
        out = work / over[0].split("=")[1]
        cmd = [sys.executable, "-m", "kb_build", f"dump={dump}", f"popularity={popularity}", f"output_dir={out}",
               "overwrite=true", "progress=false", *over]
        started = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.time() - started
        if proc.returncode != 0:
            sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        manifest = json.loads((out / "manifest.json").read_text())
        embed = re.search(r"embedding \((\w+)\): ([\d.]+) s", proc.stderr)
        kept = manifest["counts"]["kept"]
        rows.append({"engine": name, "kept": kept, "wall_s": round(wall, 1),
                     "embed_s": float(embed.group(2)) if embed else None,
                     "entities_per_s": round(kept / wall, 1),
                     "driver_peak_rss_mb": manifest["build"]["peak_rss_mb"]})
        out_dirs.append(out)
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    same = {f: _least_cosine(out_dirs[0] / f, out_dirs[1] / f) for f in ("embeddings.f16.npy", "sentence.f16.npy")}
    machine = stamp()
    print(f"Command: `python benchmarks/bench_kb_engine.py {' '.join(argv)}`".rstrip() + f" ({machine}); dump {dump}")
    print("| engine | entities kept | wall s | embedding step s | entities/s (whole build) | driver peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        embed_s = "— (while reading)" if r["embed_s"] is None else r["embed_s"]
        print(f"| {r['engine']} | {r['kept']} | {r['wall_s']} | {embed_s} | {r['entities_per_s']} | "
              f"{r['driver_peak_rss_mb']} |")
    print(f"Least per-row cosine between the two KBs: span-space {same['embeddings.f16.npy']:.5f}, "
          f"sentence {same['sentence.f16.npy']:.5f}")
    print(json.dumps({"rows": rows, "least_cosine": same, "machine": machine}))


if __name__ == "__main__":
    main(sys.argv[1:])
