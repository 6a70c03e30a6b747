"""``python -m glinker.evaluate <command> key=value ...``: a small dispatcher.

``ner``: zero-shot NER scores (``glinker/conf/evaluate_ner.yaml``, metrics in :mod:`glinker.evaluate.ner`).
``el``: entity linking (``glinker/conf/evaluate_el.yaml``, the app in :mod:`glinker.evaluate.el_cli`).
The subcommand is removed from ``sys.argv`` and the command's Hydra app runs on the rest.
"""

from __future__ import annotations

import json
import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from glinker.cli import reports_errors, run_command
from glinker.config import CONF_DIR
from glinker.settings import resolve_data_path

logger = logging.getLogger("glinker.evaluate")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate_ner")
@reports_errors
def _ner_app(cfg: DictConfig) -> None:
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.detection.labels import BROAD_LABELS
    from glinker.evaluate.ner import average_f1, evaluate_examples, format_table, load_eval_set

    c = OmegaConf.to_container(cfg, resolve=True)
    paths = c["data"] if isinstance(c["data"], list) else [c["data"]]
    thresholds = c["thresholds"] or [c["threshold"]]
    det = BiEncoderDetector(c["model"], batch_size=c["batch_size"], flat_ner=c["flat_ner"],
                            specific_ratio=c.get("specific_ratio"),
                            specific_similarity=c.get("specific_similarity", 0.55),
                            broad_labels=c.get("broad_labels") or BROAD_LABELS,
                            num_threads=c["num_threads"], threshold=min(thresholds),
                            runtime=c.get("runtime", "torch"), quantize=c.get("quantize"))
    results = {}
    for p in paths:
        path = resolve_data_path(str(p))
        examples, labels = load_eval_set(path, c["format"], c["labels"])
        if c["max_examples"]:
            examples = examples[: int(c["max_examples"])]
        res = evaluate_examples(det, examples, labels, thresholds, c["batch_size"], c["per_type"],
                                c["progress"], confusions=c.get("confusions", False))
        res["data"] = str(path)
        results[str(p)] = res
    print(format_table(results), file=sys.stderr)
    out = {"model": det.name, "fingerprint": det.fingerprint, "results": results}
    if len(results) > 1:
        out["average_f1"] = average_f1(results)
        print(f"average F1 over the {len(results)} sets: {out['average_f1']}", file=sys.stderr)
    sys.stdout.flush()
    print(json.dumps(out))


def _el_app() -> None:
    from glinker.evaluate.el_cli import el_app

    el_app()


COMMANDS = {"ner": _ner_app, "el": _el_app}


def main() -> None:
    """Dispatch ``python -m glinker.evaluate {ner,el} key=value ...``; exit 130 / 143 on SIGINT / SIGTERM."""
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        names = ", ".join(COMMANDS)
        print(f"usage: python -m glinker.evaluate {{{names}}} key=value ...", file=sys.stderr)
        sys.exit(2)
    command = sys.argv.pop(1)
    run_command(COMMANDS[command], "evaluation stopped, no scores printed")


if __name__ == "__main__":
    main()
