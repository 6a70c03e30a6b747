"""``python -m kb_build dump=PATH output_dir=DIR [overrides]``: build a KB.

``python -m kb_build update kb_dir=DIR changes=FILE [deletions=FILE] [popularity=TSV]``: apply changed,
redirected and deleted entities as a new KB version (:mod:`kb_build.update`);
``python -m kb_build compact kb_dir=DIR``: fold the updates into new base files (:mod:`kb_build.compact`).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from glinker.cli import reports_errors, run_command
from glinker.config import CONF_DIR
from glinker.errors import KBError
from glinker.interrupts import Interrupted

logger = logging.getLogger("kb_build")


def run(cfg: DictConfig) -> dict:
    """Build the KB described by a composed ``kb_build`` config; returns its manifest."""
    from glinker.detection.bi_encoder import BiEncoderDetector
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
    classes = c.get("classes") or {}
    named = (f"; {100 - 100 * classes['references_missing'] / classes['references']:.0f} % of P31 references name a "
             "class in the KB" if classes.get("references") else "")
    print(
        f"kb_build: read {c['read']}, kept {c['kept']}, filtered {sum(c['filtered'].values())} ({filtered}), "
        f"malformed {c['malformed']}; {c['alias_keys']} alias keys{named}; index {manifest['index']['factory']}; "
        f"{b['seconds']} s, peak RSS {b['peak_rss_mb']} MB -> {cfg.output_dir}",
        file=sys.stderr,
    )
    return manifest


@reports_errors  # a GlinkerError: one line, exit 2 (glinker.cli)
def _guarded(fn, cfg: DictConfig, on_interrupt: str):
    """``fn(cfg)``; an interrupt is reported with what it left (``on_interrupt``, which names this run's
    folder) and goes on to :func:`glinker.cli.run_command`, which exits 130 / 143."""
    try:
        return fn(cfg)
    except Interrupted as exc:
        logger.error("%s: %s", exc, on_interrupt)
        exc.reported = True
        raise


@hydra.main(config_path=str(CONF_DIR), config_name="kb_build", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    # the build's cleanup has run on an interrupt: no temporary folder is left
    manifest = _guarded(run, cfg, f"nothing was published at {cfg.output_dir}")
    json.dump({"kb": str(cfg.output_dir), "counts": manifest["counts"]}, sys.stdout)
    sys.stdout.write("\n")


def update(cfg: DictConfig) -> dict:
    """Apply the changes a composed ``kb_update`` config names; returns the summary."""
    from glinker.detection.bi_encoder import BiEncoderDetector
    from glinker.errors import DumpError
    from glinker.kb.manifest import read_manifest
    from kb_build.update import update_kb

    read_manifest(cfg.kb_dir)  # a missing KB or file is reported before the model is loaded
    for name in ("changes", "deletions"):
        if cfg[name] and not Path(cfg[name]).is_file():
            raise DumpError(f"{name} file not found: {cfg[name]}")
    encoder = BiEncoderDetector(cfg.model, num_threads=cfg.embed_threads)
    summary = update_kb(cfg.kb_dir, encoder, changes=cfg.changes, deletions=cfg.deletions, popularity=cfg.popularity,
                        embed_batch_size=cfg.embed_batch_size, compact_share=cfg.compact_share, progress=cfg.progress)
    c = summary["counts"]
    v = summary["version"]
    filtered = sum(c["filtered"].values())
    print(
        f"kb_build update: added {c['added']}, updated {c['updated']}, deleted {c['deleted']}, redirected "
        f"{c['redirected']}, unchanged {c['unchanged']}, malformed {c['malformed']}, filtered {filtered}, "
        f"not found {c['not_found']}; version {v['from']} -> {v['to']}"
        f"{' (compacted)' if summary['compacted'] else ''}; {summary['seconds']} s -> {cfg.kb_dir}",
        file=sys.stderr,
    )
    return summary


def compact(cfg: DictConfig) -> dict:
    """Compact the KB a composed ``kb_compact`` config names; returns a summary."""
    from glinker.kb.manifest import read_manifest
    from kb_build.compact import compact_kb

    before = read_manifest(cfg.kb_dir).get("version", 0)
    manifest = compact_kb(cfg.kb_dir, progress=cfg.progress)
    after = manifest.get("version", 0)
    print(f"kb_build compact: {manifest['counts']['kept']} entities; version {before} -> {after}"
          f"{'' if after != before else ' (no delta: nothing to do)'} -> {cfg.kb_dir}", file=sys.stderr)
    return {"kb": str(cfg.kb_dir), "version": {"from": before, "to": after}, "entities": manifest["counts"]["kept"]}


def _subcommand(name: str, fn):
    @hydra.main(config_path=str(CONF_DIR), config_name=f"kb_{name}", version_base="1.3")
    def app(cfg: DictConfig) -> None:
        # nothing is published before the manifest is replaced
        result = _guarded(fn, cfg, f"the KB at {cfg.kb_dir} is unchanged")
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")

    return app


def main() -> None:
    """Console entry point: exit 0, 2 (bad dump, changes or options), 130 / 143 (SIGINT / SIGTERM).

    A first argument ``update`` or ``compact`` selects that subcommand (its own config,
    ``glinker/conf/kb_update.yaml`` / ``kb_compact.yaml``); otherwise the arguments build a KB.
    """
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    app = _app
    if command in ("update", "compact"):
        del sys.argv[1]
        app = _subcommand(command, update if command == "update" else compact)
    run_command(app, "nothing was changed")


if __name__ == "__main__":
    main()
