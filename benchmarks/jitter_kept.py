"""A copy of a kept-features file with every feature moved by float32 rounding noise, to measure how much the
leave-one-out figures move when the same benchmarks are linked again.

    python benchmarks/jitter_kept.py cache=runs/loo_kept_v4.json out=runs/jitter/kept_1.json seed=1 [scale=1e-7]
        [decimals=4]

Linking a benchmark again (another batch, another order of encoder calls) changes the float32 sums inside the
encoders in their last bits, so the kept features of the same text differ by about 1e-7. LightGBM bins feature
values, so such differences can move a split and then a ranker's picks. The bagging seeds of the leave-one-out
run measure how the fits vary with the rows and features they sample, not this. Each feature value ``x`` here
becomes ``x * (1 + scale * e)``, ``e`` standard normal per value (seeded); then run the leave-one-out command with
``loo_cache=`` the copy and compare its means with the original's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options  # noqa: E402  (benchmarks/common.py)


def main(argv: list[str]) -> int:
    opts = key_value_options(argv, {"cache": "", "out": "", "seed": "1", "scale": "1e-7", "decimals": ""})
    if not opts["cache"] or not opts["out"]:
        raise SystemExit("cache=FILE (a kept-features file: bench_el.py loo_cache=FILE) and out=FILE are needed")
    from dataclasses import replace

    from glinker.rerank.kept import load_kept, save_kept

    try:
        seed, scale = int(opts["seed"]), float(opts["scale"])
        decimals = int(opts["decimals"]) if opts["decimals"] else None
    except ValueError:
        raise SystemExit(f"seed={opts['seed']} scale={opts['scale']} decimals={opts['decimals']}: integers and a "
                         "number expected") from None
    source = Path(opts["cache"])
    if not source.is_file():
        raise SystemExit(f"cache={source}: not found; make it with bench_el.py loo=only loo_cache={source}")
    spans, traced = load_kept(source)
    rng = np.random.default_rng(seed)

    def moved(x):
        if x is None:
            return None
        x = x * (1.0 + scale * rng.standard_normal(x.shape))
        return x if decimals is None else np.round(x, decimals)

    spans = {n: [replace(s, features=moved(s.features)) for s in v] for n, v in spans.items()}
    traced = {n: [[replace(m, features=moved(m.features)) for m in doc] for doc in docs]
              for n, docs in traced.items()}
    Path(opts["out"]).parent.mkdir(parents=True, exist_ok=True)
    save_kept(opts["out"], spans, traced)
    rounded = "" if decimals is None else f", rounded to {decimals} decimals"
    print(f"{opts['out']}: every feature of {source} times (1 + {scale:g} e), seed {seed}{rounded}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
