"""``python -m glinker.link``: link documents into JSONL.

Examples::

    python -m glinker.link text="Arnold Schwarzenegger starred in The Terminator."
    python -m glinker.link kb_dir=kb/arnold input=docs.jsonl output=linked.jsonl retriever=alias reranker=none
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import TextIO

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from glinker.cli import reports_errors, run_command
from glinker.config import CONF_DIR, PipelineFactory, build_pipeline, build_stage
from glinker.errors import InputError
from glinker.interrupts import Interrupted, held
from glinker.io import BadDocument, JsonlWriter, check_size, read_documents
from glinker.pipeline import Pipeline
from glinker.render_html import HtmlWriter
from glinker.types import Document

logger = logging.getLogger("glinker.link")


@dataclass(frozen=True)
class RunOptions:
    """The link job's own settings, checked (the stages' settings are checked by their builders)."""

    text: str | None
    input: str | None
    output: str
    max_chars: int | None
    progress: bool
    candidates: int
    engine: str
    output_format: str = "jsonl"


def _int_option(cfg: DictConfig, key: str, low: int, allow_null: bool = False) -> int | None:
    value = cfg.get(key)
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        null = " or null (no limit)" if allow_null else ""
        raise InputError(f"{key}={value!r}: expected a whole number >= {low}{null}")
    return value


def _single_option(cfg: DictConfig, key: str) -> str | None:
    value = cfg.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list)) or OmegaConf.is_config(value):
        raise InputError(f"{key}={value!r}: expected a single value (a path, or - for stdin / stdout)")
    if not str(value):
        raise InputError(f"{key}= is empty: give a path, or - for stdin / stdout")
    return str(value)


def read_options(cfg: DictConfig, text: str | None = None) -> RunOptions:
    """Check the link job's keys of a composed config; ``text`` given verbatim wins over ``cfg.text``.

    Raises:
        InputError: a key has a value of the wrong kind, or the combination makes no sense.
    """
    try:  # a "${...}" in a value is an OmegaConf interpolation: one that cannot resolve is a bad option
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        reason = str(exc).splitlines()[0]
        raise InputError(f"{exc.full_key or 'a config value'}: {reason} ('${{...}}' is an interpolation); "
                         "write a literal '${' as '\\${'") from None
    text = text if text is not None else _single_option(cfg, "text")
    source = _single_option(cfg, "input")
    if text is not None and source is not None:
        raise InputError("give either text=... or input=..., not both")
    if text is None and source is None:
        raise InputError("nothing to link: pass input=PATH (file, folder of .txt, .jsonl, or - for stdin) "
                         "or text='...'")
    progress = cfg.get("progress", True)
    if not isinstance(progress, bool):
        raise InputError(f"progress={progress!r}: expected true or false")
    engine = cfg.get("engine", "local")
    if engine not in ("local", "ray"):
        raise InputError(f"engine={engine!r} is not known: choose local or ray")
    _int_option(cfg, "batch_size", 1)
    output_format = cfg.get("output_format", "jsonl")
    if output_format not in ("jsonl", "html"):
        raise InputError(f"output_format={output_format!r} is not known: choose jsonl or html")
    return RunOptions(text=text, input=source, output=_single_option(cfg, "output") or "-",
                      max_chars=_int_option(cfg, "max_chars", 1, allow_null=True), progress=progress,
                      candidates=_int_option(cfg, "candidates", 0), engine=engine, output_format=output_format)


def run(cfg: DictConfig, text: str | None = None) -> int:
    """Run the link job; returns the exit code (0 ok, 2 if some documents were bad).

    ``text``: a text to link given apart from ``cfg`` (the command line's verbatim ``text=``).

    Raises:
        GlinkerError: the job cannot run (bad option, input, KB or model).
        Interrupted: SIGINT or SIGTERM under :func:`glinker.interrupts.stop_on_signals`; what was
            written has been published or kept as ``.partial`` and reported in one line.
    """
    opts = read_options(cfg, text)
    if opts.text is not None:
        docs_in: Iterator[Document | BadDocument] = iter([_verbatim_doc(opts.text, opts.max_chars)])
    else:
        docs_in = read_documents(opts.input, max_chars=opts.max_chars)
    bad = 0

    def good_docs() -> Iterator[Document]:
        nonlocal bad
        for item in docs_in:
            if isinstance(item, BadDocument):
                logger.error("%s", item)
                bad += 1
            else:
                yield item

    # before the model loads: a bad output path fails at once
    writer = HtmlWriter(opts.output) if opts.output_format == "html" else JsonlWriter(opts.output)
    n_mentions = n_linked = n_chars = 0
    pipeline = None
    try:
        if opts.engine == "ray":
            results = _ray_linker(cfg).link(good_docs())
        else:
            pipeline = build_pipeline(cfg)
            results = _link_local(pipeline, good_docs(), opts.candidates > 0)
        started = time.time()  # linking time, without loading the model
        try:
            with progress_bar(opts.progress) as bar:
                for out in results:
                    with held():  # a stop signal waits until the line and its count are both done
                        writer.write(out)
                    n_mentions += len(out["mentions"])
                    n_linked += sum(m["qid"] is not None for m in out["mentions"])
                    n_chars += len(out["text"])
                    bar.update(1)
                    bar.set_postfix_str(f"{n_chars / max(time.time() - started, 1e-9):,.0f} chars/s", refresh=False)
        finally:
            results.close()  # a Ray engine shuts down the Ray it started
            if pipeline is not None:  # LMDB refuses a second open of the KB in this process until then
                pipeline.kb.store.close()
    except Interrupted as exc:
        where = writer.close(success=False)
        logger.error("%s: %s", exc, _written(writer.lines, where))
        exc.reported = True
        raise
    except BrokenPipeError:
        writer.close(success=False)
        _stdout_to_devnull()
        raise InputError(f"output {writer.where} was closed by its reader after {writer.lines} documents") from None
    except BaseException:
        where = writer.close(success=False)
        if writer.lines:  # the cause is reported by the caller; this says what is left of the output
            logger.error("run failed: %s", _written(writer.lines, where))
        raise
    writer.close()
    elapsed = max(time.time() - started, 1e-9)
    logger.info("linked %d documents (%d mentions, %d linked, %d NIL) with engine=%s in %.1f s: %.2f docs/s",
                writer.lines, n_mentions, n_linked, n_mentions - n_linked, opts.engine, elapsed,
                writer.lines / elapsed)
    if bad:
        logger.error("%d input document(s) skipped (see errors above)", bad)
        return 2
    return 0


def _verbatim_doc(text: str, max_chars: int | None) -> Document | BadDocument:
    try:
        return check_size(Document("text", text), "text=", max_chars)
    except BadDocument as exc:
        return exc


def _written(lines: int, where: str | None) -> str:
    """What a stopped run leaves, in words."""
    if where is None or not lines:
        return "no document was written"
    return f"{lines} document{'s' * (lines != 1)} written to {where}"


def _stdout_to_devnull() -> None:
    # the reader of stdout is gone: the interpreter's final flush would fail again, loudly
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


PROGRESS_DELAY_S = 3.0  # shorter runs show no bar


@contextmanager
def progress_bar(enabled: bool, stream: TextIO | None = None, delay: float = PROGRESS_DELAY_S) -> Iterator[tqdm]:
    """A documents-per-second bar on ``stream`` (default stderr), shown when ``enabled`` and ``stream`` is a terminal.

    tqdm's ``delay``: the bar appears only once a run has lasted ``delay`` seconds. While it is
    shown, log records are written above it instead of through it.
    """
    stream = stream or sys.stderr
    show = enabled and stream.isatty()
    bar = tqdm(desc="linking", unit=" docs", file=stream, disable=not show, delay=delay, mininterval=0.5)
    try:
        if show:
            with logging_redirect_tqdm():
                yield bar
        else:
            yield bar
    finally:
        bar.close()


def _link_local(pipeline: Pipeline, docs: Iterator[Document], with_candidates: bool) -> Iterator[dict]:
    """JSON views of the linked documents, linked in this process batch by batch."""
    while batch := list(islice(docs, pipeline.batch_size)):
        pipeline.link_batch(batch)
        for doc in batch:
            yield doc.to_dict(with_candidates=with_candidates)


def _ray_linker(cfg: DictConfig):
    """The ``engine=ray`` linker (:mod:`glinker.distributed`) for a composed config."""
    from glinker.distributed import RayLinker

    plain = OmegaConf.to_container(cfg, resolve=True)
    if not plain.get("kb_dir"):
        from glinker.demo import ensure_demo_kb

        # built once here, not by every actor at the same time
        plain["kb_dir"] = str(ensure_demo_kb(build_stage(cfg.detector)))
    r = cfg.ray
    return RayLinker(PipelineFactory(plain), with_candidates=cfg.candidates > 0, address=r.address, actors=r.actors,
                     cpus_per_actor=r.cpus_per_actor, docs_per_call=r.docs_per_call)


# ``text=...`` taken off the command line verbatim before Hydra parses the rest: free text holds commas,
# brackets, quotes and '=' that Hydra's override grammar would reject or reinterpret.
_VERBATIM_TEXT: list[str] = []


def take_verbatim_text(argv: list[str]) -> tuple[list[str], str | None]:
    """Split ``text=...`` / ``+text=...`` out of ``argv``: (the other arguments, the text or None).

    The value is kept exactly as the shell passed it (one pair of matching outer quotes, which a
    user may add for Hydra out of habit, is removed). Given twice, the last one wins, as in Hydra.
    """
    rest: list[str] = []
    text: str | None = None
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "text" and not key.startswith("~"):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            text = value
        else:
            rest.append(arg)
    return rest, text


@hydra.main(config_path=str(CONF_DIR), config_name="link", version_base="1.3")
@reports_errors
def _app(cfg: DictConfig) -> None:
    # the verbatim text stays out of cfg: OmegaConf would read "${...}" in it as an interpolation
    sys.exit(run(cfg, text=_VERBATIM_TEXT[-1] if _VERBATIM_TEXT else None))


def main() -> None:
    """Console entry point: exit 0, 2 (bad options, input or documents), 130 / 143 (SIGINT / SIGTERM)."""
    sys.argv[1:], text = take_verbatim_text(sys.argv[1:])
    _VERBATIM_TEXT.clear()  # a second call in one process must not link the first call's text
    if text is not None:
        _VERBATIM_TEXT.append(text)
    run_command(_app, "no document was written")


if __name__ == "__main__":
    main()
