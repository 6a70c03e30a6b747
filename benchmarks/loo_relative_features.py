"""Leave-one-benchmark-out ED with candidate-relative features added, from kept features.

    python benchmarks/loo_relative_features.py cache=runs/loo_kept_v3.json [variants=[context,popularity,...]]
        [seeds=[1,2,3]]

The ranker scores each candidate row on its own, so it cannot compare a candidate with the other candidates of
the same mention unless a feature does: the name and type scores come with their gap to the best candidate and
their rank, the popularity with its share (``prior``), but the context similarity, the log popularity, the
string similarity and the coherence come as absolute values, whose scale moves from document to document. Each
variant adds, for one of them, the gap to the mention's best candidate and the rank among its candidates
(computed from the kept columns, exactly as the pipeline would compute them), refits the rankers leave one
benchmark out (as the packaged one is fitted: without ``context_names`` and the dense features) and scores ED;
the sets no fit saw (when the file holds them) are scored with a ranker fitted on every fitted benchmark. With
``seeds``, every variant is refitted with bagging under those seeds as well: a variant is worth keeping when it
moves the mean by more than that spread. Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import key_value_options, stamp  # noqa: E402  (benchmarks/common.py)

UNSEEN = ("wiki-fair", "istex_train", "wiki-fair-no-coref")
DROP = ("context_names", "dense", "dense_gap", "dense_rank")
# variant -> the kept columns it adds a gap and a rank for
VARIANTS = {"context": ("context_sim",), "popularity": ("log_popularity",), "string": ("string_sim", "token_overlap"),
            "coherence": ("coherence", "coherence_max"), "all": ("context_sim", "log_popularity", "string_sim",
                                                                 "token_overlap", "coherence", "coherence_max")}


def relative(x: np.ndarray, ruled: np.ndarray, cols: list[int]) -> np.ndarray:
    """Per column of ``cols``: value - best, and 1 / (1 + rank), over the candidates not ruled out."""
    out = []
    live = ~ruled if ruled is not None and (~ruled).any() else np.ones(len(x), dtype=bool)
    for c in cols:
        v = x[:, c]
        top = float(v[live].max())
        order = np.argsort(-np.where(live, v, -np.inf), kind="stable")
        rank = np.empty(len(v))
        rank[order] = np.arange(len(v))
        out += [v - top, np.where(live, 1.0 / (1.0 + rank), 0.0)]
    return np.stack(out, axis=1)


def main(argv: list[str]) -> None:
    from glinker.rerank.fit import MentionExamples, fit_lambdamart
    from glinker.rerank.leave_one_out import NOISE_PARAMS, load_kept
    from glinker.rerank.ranker import FEATURES

    opts = key_value_options(argv, {"cache": "runs/loo_kept_v3.json", "variants": "[" + ",".join(VARIANTS) + "]",
                                    "seeds": "[]"})
    chosen = [v.strip() for v in opts["variants"].strip("[]").split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"variants={unknown}: not known; known: {', '.join(VARIANTS)}")
    seeds = [int(s) for s in opts["seeds"].strip("[]").split(",") if s.strip()]
    spans, _ = load_kept(opts["cache"])
    fitted = [n for n in spans if n not in UNSEEN]
    base = [FEATURES.index(f) for f in FEATURES if f not in DROP]

    def table(extra: tuple[str, ...]):
        cols = [FEATURES.index(f) for f in extra]
        names = [FEATURES[c] for c in base] + [f"{FEATURES[c]}_{k}" for c in cols for k in ("gap", "rank")]
        out = {}
        for n, v in spans.items():
            out[n] = [(np.hstack([s.features[:, base], relative(s.features, s.ruled, cols)]) if cols
                       else s.features[:, base], s) for s in v if s.features is not None]
        return names, out

    def accuracy(booster, rows, total: int) -> float:
        right = 0
        for x, s in rows:
            score = booster.predict(x)
            score[s.ruled] = -np.inf
            right += s.qids[int(np.argmax(score))] == s.gold
        return round(100.0 * right / max(total, 1), 2)

    def fit(rows, names, params):
        kept = [(x, s) for x, s in rows if s.gold in s.qids]
        return fit_lambdamart([MentionExamples(x, np.array([float(q == s.gold) for q in s.qids]), s.gold,
                                               list(s.qids)) for x, s in kept], names, params)

    results = {}
    for variant in ["none", *chosen]:
        names, rows = table(() if variant == "none" else VARIANTS[variant])
        row = {}
        for seed in [None, *seeds]:
            params = None if seed is None else NOISE_PARAMS | {"seed": seed}
            per = {n: accuracy(fit([r for o in fitted if o != n for r in rows[o]], names, params), rows[n],
                               len(spans[n])) for n in fitted}
            key = "loo" if seed is None else f"seed{seed}"
            row[key] = per
            row[f"{key}_mean"] = round(float(np.mean(list(per.values()))), 2)
        full = fit([r for n in fitted for r in rows[n]], names, None)
        row["unseen"] = {n: accuracy(full, rows[n], len(spans[n])) for n in UNSEEN if n in spans}
        results[variant] = row
        print(variant, row["loo_mean"], [row[f"seed{s}_mean"] for s in seeds], row["unseen"], file=sys.stderr,
              flush=True)
    print(f"Command: `python benchmarks/loo_relative_features.py {' '.join(argv)}` ({stamp()})", file=sys.stderr)
    print("| variant | " + " | ".join(fitted) + " | mean | seed means | " + " | ".join(
        u for u in UNSEEN if u in spans) + " |", file=sys.stderr)
    print("|---" * (len(fitted) + 3 + sum(u in spans for u in UNSEEN)) + "|", file=sys.stderr)
    for variant, row in results.items():
        print(f"| {variant} | " + " | ".join(f"{row['loo'][n]:.1f}" for n in fitted)
              + f" | **{row['loo_mean']:.2f}** | {', '.join(str(row[f'seed{s}_mean']) for s in seeds)} | "
              + " | ".join(f"{v:.1f}" for v in row["unseen"].values()) + " |", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
