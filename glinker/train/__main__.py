"""``python -m glinker.train [key=value ...]``: the Hydra CLI around :func:`glinker.train.recipe.run_training`."""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig, OmegaConf

from glinker.cli import reports_errors, run_command
from glinker.config import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@reports_errors
def _app(cfg: DictConfig) -> None:
    from glinker.settings import data_dir
    from glinker.train.loop import TrainSettings
    from glinker.train.recipe import run_training

    c = OmegaConf.to_container(cfg, resolve=True)
    weak = c.get("weak_labels") or {}
    summary = run_training(
        datasets=c["datasets"],
        data_root=c["data_dir"] or data_dir(),
        out_dir=c["out_dir"],
        settings=TrainSettings(**c["train"]),
        init=c["init"],
        resume=c["resume"],
        weak_dump=weak.get("dump"),
        weak_popularity=weak.get("popularity"),
        weak_max_per_span=weak.get("max_per_span", 2),
        weak_descriptions=weak.get("descriptions", False),
        weak_concepts=weak.get("concepts", False),
        weak_roles=weak.get("roles", False),
        silver_spacy=(c.get("silver") or {}).get("spacy_model"),
        synthetic_items=(c.get("synthetic") or {}).get("items", 0),
        synthetic_per_text=(c.get("synthetic") or {}).get("per_text", 3),
        train_text_embeddings=not c["freeze"]["text_embeddings"],
        train_text_layers=not c["freeze"]["text_layers"],
        train_label_tower=not c["freeze"]["label_tower"],
        max_words=c["max_words"],
        max_tokens=c["max_tokens"],
        num_threads=c["num_threads"],
        install=c["install"],
        name=c["name"],
        allow_eval_data=c["allow_eval_data"],
        progress=c["progress"],
        mixture=c.get("mixture"),
        family_positives=bool(c.get("family_positives", False)),
    )
    summary.pop("history", None)
    print(json.dumps(summary))


def main() -> None:
    """Entry point of ``python -m glinker.train`` (Hydra reads the overrides); exit 2 on bad options or data."""
    run_command(_app, "training stopped; resume=true continues from the last checkpoint")


if __name__ == "__main__":
    main()
