"""Micro-batching: link requests that arrive close together as one :class:`~glinker.pipeline.Pipeline` batch.

A pipeline batch of 16 documents costs far less than 16 batches of one (the encoders run on
padded batches), so concurrent requests are collected for ``window_s`` after the first one
arrives (or until ``max_docs`` documents are waiting) and linked together. Linking runs on one
worker thread, never on the event loop: the server keeps answering ``/health`` and accepting
requests while a batch runs, and the requests that arrive meanwhile form the next batch.

Requests with different detection settings (``labels``, ``threshold``) share a batch's time but
are linked in groups of equal settings; ``candidates=K`` only changes the output, so it never
splits a group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from glinker.errors import GlinkerError
from glinker.pipeline import Pipeline
from glinker.types import Document

logger = logging.getLogger("glinker.serve")

Span = tuple[int, int]


@dataclass(eq=False)
class LinkJob:
    """The documents of one request and how to link them.

    Attributes:
        docs: Documents to annotate.
        spans: Per document, the character spans to disambiguate, or ``None`` to detect mentions.
        labels: Entity types for detection (``None``: the server's default).
        threshold: Detector threshold (``None``: the server's default).
        candidates: Ranked candidates per mention in the output.
    """

    docs: list[Document]
    spans: list[list[Span] | None]
    labels: tuple[str, ...] | None = None
    threshold: float | None = None
    candidates: int = 0
    future: asyncio.Future | None = field(default=None, repr=False)

    @property
    def settings(self) -> tuple:
        """Jobs with equal settings are linked in one pipeline call."""
        return self.labels, self.threshold


class Busy(GlinkerError):
    """More documents are waiting than the server's queue takes."""


def _threshold_owner(pipeline: Pipeline):
    """The detector object whose ``threshold`` decides detection (a union detector wraps a bi-encoder)."""
    for obj in (pipeline.detector, getattr(pipeline.detector, "detector", None)):
        if obj is not None and hasattr(obj, "threshold"):
            return obj
    return None


def link_jobs(pipeline: Pipeline, jobs: Sequence[LinkJob]) -> list[list[dict] | BaseException]:
    """Link the jobs' documents, one pipeline call per group of equal settings; per job, its records
    (the CLI's JSONL objects) or the exception that stopped its group. Runs on the worker thread."""
    owner = _threshold_owner(pipeline)
    default_labels, default_max = pipeline.labels, pipeline.max_candidates
    default_threshold = getattr(owner, "threshold", None)
    groups: dict[tuple, list[LinkJob]] = defaultdict(list)
    for job in jobs:
        groups[job.settings].append(job)
    out: dict[int, list[dict] | BaseException] = {}
    for (labels, threshold), group in groups.items():
        try:
            pipeline.labels = list(labels) if labels is not None else default_labels
            if threshold is not None:
                owner.threshold = threshold
            pipeline.max_candidates = max(j.candidates for j in group)
            detect = [d for j in group for d, s in zip(j.docs, j.spans) if s is None]
            given = [(d, s) for j in group for d, s in zip(j.docs, j.spans) if s is not None]
            if detect:
                pipeline.link_batch(detect)
            if given:
                pipeline.link_spans([d for d, _ in given], [s for _, s in given])
            for job in group:
                out[id(job)] = [_record(d, job.candidates) for d in job.docs]
        except Exception as exc:  # the group's requests get the error; the server goes on
            for job in group:
                out[id(job)] = exc
        finally:
            pipeline.labels, pipeline.max_candidates = default_labels, default_max
            if owner is not None:
                owner.threshold = default_threshold
    return [out[id(job)] for job in jobs]


def _record(doc: Document, candidates: int) -> dict:
    """The CLI's JSONL object of ``doc``, with at most ``candidates`` candidates per mention."""
    record = doc.to_dict(with_candidates=candidates > 0)
    if candidates:
        for m in record["mentions"]:
            m["candidates"] = m["candidates"][:candidates]
    return record


class MicroBatcher:
    """Collects :class:`LinkJob` s from concurrent requests into batches linked on one worker thread.

    Args:
        pipeline: The loaded pipeline (used by the worker thread only).
        window_s: How long a batch waits for more requests after its first one.
        max_docs: Documents per batch; a batch that is full starts at once.
        max_queue_docs: Documents that may wait; beyond, :meth:`link` raises :class:`Busy`.
        run: The function linking a batch (default :func:`link_jobs`).
    """

    def __init__(self, pipeline: Pipeline, window_s: float = 0.005, max_docs: int = 32,
                 max_queue_docs: int = 2048, run: Callable = link_jobs) -> None:
        self.pipeline = pipeline
        self.window_s = float(window_s)
        self.max_docs = max(1, int(max_docs))
        self.max_queue_docs = int(max_queue_docs)
        self.queued_docs = 0
        self.batches = 0  # batches linked so far (also tells a test that batches formed)
        self._run = run
        self._queue: asyncio.Queue[LinkJob] | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glinker-link")

    async def start(self) -> None:
        """Start collecting (on the running event loop)."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._collect(), name="glinker-batcher")

    async def stop(self) -> None:
        """Stop collecting; waits for the batch that is running."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def link(self, job: LinkJob, timeout_s: float | None = None) -> list[dict]:
        """The job's records once its batch is linked.

        Raises:
            Busy: the queue is full.
            asyncio.TimeoutError: not linked within ``timeout_s`` (a job not yet started is dropped).
            GlinkerError: the pipeline refused the input (e.g. an unknown option value).
        """
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        n = len(job.docs)
        if self.queued_docs + n > self.max_queue_docs:
            raise Busy(f"{self.queued_docs} documents are waiting to be linked (limit max_queue_docs="
                       f"{self.max_queue_docs}); retry shortly")
        job.future = asyncio.get_running_loop().create_future()
        self.queued_docs += n
        self._queue.put_nowait(job)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout_s)
        finally:
            if not job.future.done():
                job.future.cancel()  # the collector skips it if its batch has not started

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].docs)
            deadline = loop.time() + self.window_s
            while size < self.max_docs:
                try:  # what is already waiting joins at once; then wait out the window
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self._queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                jobs.append(job)
                size += len(job.docs)
            self.queued_docs -= size
            live = [j for j in jobs if not j.future.done()]
            if not live:
                continue
            started = time.perf_counter()
            results = await loop.run_in_executor(self._executor, self._run, self.pipeline, live)
            self.batches += 1
            logger.debug("batch of %d requests, %d documents: %.0f ms", len(live), sum(len(j.docs) for j in live),
                         1000 * (time.perf_counter() - started))
            for job, result in zip(live, results):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
