"""Linking on a Ray cluster (``python -m glinker.link engine=ray``): a pool of pipeline actors.

Each actor builds the configured pipeline once (model, KB — memory-mapped, so the actors of
one node share its pages — retriever, reranker) and links batches of documents.
The driver reads the input, reports bad documents as the local engine does, keeps a bounded
number of batches in flight (``ray.util.ActorPool``) and writes the results in input order.

On one machine ``address=None`` starts a local Ray instance. On a cluster, ``address="auto"``
joins it; every node needs glinker installed and the KB at the same ``kb_dir`` path (shared or
copied storage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from glinker.errors import GlinkerError, InputError
from glinker.types import Document

if TYPE_CHECKING:
    from glinker.pipeline import Pipeline

logger = logging.getLogger(__name__)


class _LinkActor:
    """One Ray actor: a whole pipeline, built once by the factory it is given."""

    def __init__(self, factory: Callable[[], Pipeline], num_threads: int, with_candidates: bool) -> None:
        import torch

        torch.set_num_threads(num_threads)  # the CPUs Ray reserved for this actor, not every core of the node
        self.pipeline = factory()
        self.with_candidates = with_candidates

    def link(self, docs: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Link ``(id, text, meta)`` documents; returns their JSON views in the same order."""
        batch = [Document(i, t, meta=m) for i, t, m in docs]
        self.pipeline.link_batch(batch)
        return [d.to_dict(with_candidates=self.with_candidates) for d in batch]


class RayLinker:
    """Links documents with a pool of Ray actors, each holding one pipeline.

    Args:
        factory: A picklable callable that builds the pipeline (each actor calls it once), e.g.
            :class:`glinker.config.PipelineFactory`; the KB it opens must exist on every node.
        with_candidates: Whether the JSON views carry the ranked candidates.
        address: Ray address (``None``: start a local instance; ``"auto"``: the running cluster).
        actors: Size of the pool (each actor holds one model and opens the KB).
        cpus_per_actor: CPUs Ray reserves per actor.
        docs_per_call: Documents per actor call.
    """

    def __init__(self, factory: Callable[[], Pipeline], *, with_candidates: bool = False, address: str | None = None,
                 actors: int = 2, cpus_per_actor: int = 1, docs_per_call: int = 16) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise InputError(f"engine=ray needs Ray ({exc}): pip install 'glinker-wikidata[distributed]'") from None
        if actors < 1 or cpus_per_actor < 1 or docs_per_call < 1:
            raise InputError("ray.actors, ray.cpus_per_actor and ray.docs_per_call must be ≥ 1")
        self.factory = factory
        self.with_candidates = bool(with_candidates)
        self.address = address
        self.actors = int(actors)
        self.cpus_per_actor = int(cpus_per_actor)
        self.docs_per_call = int(docs_per_call)

    def link(self, docs: Iterable[Document]) -> Iterator[dict[str, Any]]:
        """The JSON views of the linked documents of ``docs``, in input order (a generator: Ray starts on
        the first ``next`` and, if started here, shuts down when the generator ends or is closed)."""
        import ray
        from ray.util import ActorPool

        started_here = not ray.is_initialized()
        if started_here:
            kwargs: dict[str, Any] = {"address": self.address, "include_dashboard": False, "log_to_driver": False}
            if self.address is None:
                kwargs["num_cpus"] = self.actors * self.cpus_per_actor
            ray.init(**kwargs)
        try:
            remote = ray.remote(num_cpus=self.cpus_per_actor)(_LinkActor)
            pool = ActorPool([remote.remote(self.factory, self.cpus_per_actor, self.with_candidates)
                              for _ in range(self.actors)])
            in_flight = 0
            for batch in self._batches(docs):
                if in_flight >= 2 * self.actors:  # bounded: never more than two batches per actor queued
                    yield from pool.get_next()
                    in_flight -= 1
                pool.submit(lambda actor, b: actor.link.remote(b), batch)
                in_flight += 1
            while pool.has_next():
                yield from pool.get_next()
        except ray.exceptions.RayError as exc:  # an actor failed (bad KB path on a node, wrong model, ...)
            raise GlinkerError(f"linking on Ray failed: {exc}") from exc
        finally:
            if started_here:
                ray.shutdown()

    def _batches(self, docs: Iterable[Document]) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        batch: list[tuple[str, str, dict[str, Any]]] = []
        for d in docs:
            batch.append((d.id, d.text, d.meta))
            if len(batch) >= self.docs_per_call:
                yield batch
                batch = []
        if batch:
            yield batch
