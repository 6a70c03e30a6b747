"""``python -m glinker.link``: link documents into JSONL.

Examples::

    python -m glinker.link text="Arnold Schwarzenegger starred in The Terminator."
    python -m glinker.link kb_dir=kb/arnold input=docs.jsonl output=linked.jsonl retriever=alias reranker=none
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from itertools import islice

import hydra
from omegaconf import DictConfig

from glinker.config import CONF_DIR, build_stage
from glinker.errors import GlinkerError, InputError
from glinker.io import BadDocument, JsonlWriter, read_documents
from glinker.kb import KnowledgeBase
from glinker.pipeline import Pipeline
from glinker.types import Document

logger = logging.getLogger("glinker.link")


def build_pipeline(cfg: DictConfig) -> Pipeline:
    """Pipeline from a composed ``link`` config (detector, KB, retriever, reranker)."""
    from glinker.demo import ensure_demo_kb

    detector = build_stage(cfg.detector)
    kb_dir = cfg.get("kb_dir") or ensure_demo_kb(detector)
    kb = KnowledgeBase.open(kb_dir, expect_fingerprint=getattr(detector, "fingerprint", None))
    if hasattr(detector, "attach_kb"):  # detectors that read the KB (e.g. alias dictionary matching)
        detector.attach_kb(kb)
    retriever = build_stage(cfg.retriever, kb=kb, detector=detector)
    reranker = build_stage(cfg.reranker, kb=kb, detector=detector)
    labels = cfg.get("labels")
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if not labels:
            raise InputError("labels=[] gives the detector nothing to look for: list at least one entity type "
                             "(labels=[person,location]) or leave labels out for the default set")
    coref = None
    if cfg.get("coref", True):
        from glinker.coref import PronounResolver

        coref = PronounResolver(kb)
    return Pipeline(detector, retriever, reranker, kb, labels=labels, batch_size=cfg.batch_size,
                    max_candidates=cfg.candidates, coref=coref, join_comma_names=cfg.get("join_comma_names", True),
                    abbreviation_dots=cfg.get("abbreviation_dots", True),
                    article_names=cfg.get("article_names", True),
                    place_qualifiers=cfg.get("place_qualifiers", True),
                    name_extension=cfg.get("name_extension", True))


def run(cfg: DictConfig) -> int:
    """Run the link job; returns the exit code (0 ok, 2 if some documents were bad)."""
    if cfg.get("text") is not None and cfg.get("input") is not None:
        raise InputError("give either text=... or input=..., not both")
    if cfg.get("text") is not None:
        docs_in = iter([Document("text", str(cfg.text))])
    elif cfg.get("input") is not None:
        docs_in = read_documents(str(cfg.input))
    else:
        raise InputError("nothing to link: pass input=PATH (file, folder of .txt, .jsonl, or - for stdin) "
                         "or text='...'")
    engine = cfg.get("engine", "local")
    if engine not in ("local", "ray"):
        raise InputError(f"engine={engine!r} is not known: choose local or ray")
    bad = 0

    def good_docs() -> Iterator[Document]:
        nonlocal bad
        for item in docs_in:
            if isinstance(item, BadDocument):
                logger.error("%s", item)
                bad += 1
            else:
                yield item

    with_candidates = cfg.candidates > 0
    if engine == "ray":
        results = _ray_linker(cfg).link(good_docs())
    else:
        results = _link_local(build_pipeline(cfg), good_docs(), with_candidates)
    writer = JsonlWriter(cfg.output)
    n_docs = n_mentions = n_linked = 0
    started = time.time()
    ok = False
    try:
        for out in results:
            writer.write(out)
            n_docs += 1
            n_mentions += len(out["mentions"])
            n_linked += sum(m["qid"] is not None for m in out["mentions"])
        ok = True
    finally:
        results.close()  # a Ray engine shuts down the Ray it started
        writer.close(success=ok)
    elapsed = max(time.time() - started, 1e-9)
    logger.info("linked %d documents (%d mentions, %d linked, %d NIL) with engine=%s in %.1f s: %.2f docs/s",
                n_docs, n_mentions, n_linked, n_mentions - n_linked, engine, elapsed, n_docs / elapsed)
    if bad:
        logger.error("%d input document(s) skipped (see errors above)", bad)
        return 2
    return 0


def _link_local(pipeline: Pipeline, docs: Iterator[Document], with_candidates: bool) -> Iterator[dict]:
    """JSON views of the linked documents, linked in this process batch by batch."""
    while batch := list(islice(docs, pipeline.batch_size)):
        pipeline.link_batch(batch)
        for doc in batch:
            yield doc.to_dict(with_candidates=with_candidates)


def _ray_linker(cfg: DictConfig):
    """The ``engine=ray`` linker (:mod:`glinker.distributed`) for a composed config."""
    from omegaconf import OmegaConf

    from glinker.distributed import RayLinker

    plain = OmegaConf.to_container(cfg, resolve=True)
    if not plain.get("kb_dir"):
        from glinker.demo import ensure_demo_kb

        # built once here, not by every actor at the same time
        plain["kb_dir"] = str(ensure_demo_kb(build_stage(cfg.detector)))
    r = cfg.ray
    return RayLinker(plain, address=r.address, actors=r.actors, cpus_per_actor=r.cpus_per_actor,
                     docs_per_call=r.docs_per_call)


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
def _app(cfg: DictConfig) -> None:
    if _VERBATIM_TEXT:
        cfg.text = _VERBATIM_TEXT[-1]
    try:
        code = run(cfg)
    except GlinkerError as exc:
        logger.error("%s", exc)
        sys.exit(2)
    sys.exit(code)


def main() -> None:
    """Console entry point."""
    sys.argv[1:], text = take_verbatim_text(sys.argv[1:])
    if text is not None:
        _VERBATIM_TEXT.append(text)
    _app()


if __name__ == "__main__":
    main()
