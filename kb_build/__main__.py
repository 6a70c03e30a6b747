"""``python -m kb_build dump=PATH output_dir=DIR [overrides]``."""

from __future__ import annotations

import json
import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from glinker.config import CONF_DIR
from glinker.errors import GlinkerError, KBError
from glinker.interrupts import Interrupted, stop_on_signals

logger = logging.getLogger("kb_build")


def run(cfg: DictConfig) -> dict:
    """Build the KB described by a composed ``kb_build`` config; returns its manifest."""
    from glinker.detector import BiEncoderDetector
    from kb_build.build import build_kb
    from kb_build.extract import FilterConfig

    filters = FilterConfig(**OmegaConf.to_container(cfg.filters, resolve=True))
    encoder = BiEncoderDetector(cfg.model, num_threads=cfg.embed_threads)
    embedder = None
    if cfg.engine == "ray":
        from kb_build.distributed import RayEmbedder

        r = cfg.ray
        embedder = RayEmbedder(cfg.model, address=r.address, actors=r.actors, cpus_per_actor=r.cpus_per_actor,
                               shard_rows=r.shard_rows, stage_dir=r.stage_dir)
    elif cfg.engine != "local":
        raise KBError(f"engine={cfg.engine!r} is not known: choose local or ray")
    manifest = build_kb(
        cfg.dump,
        cfg.output_dir,
        encoder,
        languages=list(cfg.languages),
        filters=filters,
        template=cfg.template,
        index_factory=cfg.index_factory,
        popularity=cfg.popularity,
        workers=cfg.workers,
        batch_lines=cfg.batch_lines,
        embed_batch_size=cfg.embed_batch_size,
        embed_precision=cfg.embed_precision,
        error_budget=cfg.error_budget,
        overwrite=cfg.overwrite,
        threads=cfg.threads,
        progress=cfg.progress,
        embedder=embedder,
    )
    c = manifest["counts"]
    b = manifest["build"]
    filtered = ", ".join(f"{k} {v}" for k, v in c["filtered"].items()) or "none"
    print(
        f"kb_build: read {c['read']}, kept {c['kept']}, filtered {sum(c['filtered'].values())} ({filtered}), "
        f"malformed {c['malformed']}; {c['alias_keys']} alias keys; index {manifest['index']['factory']}; "
        f"{b['seconds']} s, peak RSS {b['peak_rss_mb']} MB -> {cfg.output_dir}",
        file=sys.stderr,
    )
    return manifest


@hydra.main(config_path=str(CONF_DIR), config_name="kb_build", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        manifest = run(cfg)
    except GlinkerError as exc:
        logger.error("%s", exc)
        sys.exit(2)
    except Interrupted as exc:  # the build's cleanup has run: no temporary folder is left
        logger.error("%s: nothing was published at %s", exc, cfg.output_dir)
        sys.exit(exc.exit_code)
    json.dump({"kb": str(cfg.output_dir), "counts": manifest["counts"]}, sys.stdout)
    sys.stdout.write("\n")


def main() -> None:
    """Console entry point: exit 0, 2 (bad dump or options), 130 / 143 (SIGINT / SIGTERM)."""
    with stop_on_signals():
        _app()


if __name__ == "__main__":
    main()
