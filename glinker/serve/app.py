"""The FastAPI application: ``/link``, ``/render``, ``/nif``, ``/entity/{qid}``, ``/health``, ``/ready``, ``/``.

The model and KB are loaded once, on a background thread after the server starts: ``/health``
answers at once, ``/ready`` once they are loaded (503 before), and a failed load stops the server
with the reason. Linking goes through :class:`~glinker.serve.batching.MicroBatcher`. Every error is
a JSON object ``{"error", "status"}``; each request is logged to stderr as one line with its latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from glinker.errors import GlinkerError, InputError
from glinker.pipeline import Pipeline
from glinker.render_html import render_document, render_legend
from glinker.serve import nif as nif_io
from glinker.serve.batching import Busy, LinkJob, MicroBatcher
from glinker.serve.options import Limits, ServeOptions
from glinker.serve.page import PAGE
from glinker.serve.schemas import ERRORS, DocumentOut, EntityOut, LinkRequest, SpanObject
from glinker.types import Document

logger = logging.getLogger("glinker.serve")


class ApiError(Exception):
    """An error answered as ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _error(status: int, message: str, detail: list | None = None, headers: dict | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class _State:
    pipeline: Pipeline | None = None
    batcher: MicroBatcher | None = None
    load_error: str | None = None


class _Guard:
    """ASGI middleware: refuses bodies over ``max_body_bytes`` (413) and logs one line per request."""

    def __init__(self, app, max_body_bytes: int, json_paths: tuple[str, ...] = ("/link", "/render")) -> None:
        self.app, self.max_body_bytes, self.json_paths = app, max_body_bytes, json_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def logged_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH"):
                receive = await self._bounded(scope, receive)
                if scope["path"] in self.json_paths:
                    scope = _as_json(scope)
            if receive is None:
                await _error(413, f"request body over the limit max_body_bytes={self.max_body_bytes:,}; "
                                  "send fewer or shorter texts")(scope, _no_body, logged_send)
            else:
                await self.app(scope, receive, logged_send)
        finally:
            logger.info("%s %s %d %.1f ms", scope["method"], scope["path"], status[0],
                        1000 * (time.perf_counter() - started))

    async def _bounded(self, scope, receive):
        """A ``receive`` replaying the whole body, or ``None`` when the body is over the limit."""
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), [False]

        async def replay():
            if replayed[0]:
                return await receive()
            replayed[0] = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _as_json(scope: dict) -> dict:
    """The scope with its body declared JSON: ``curl -d`` sends JSON as a form, and a form is no request here."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    return dict(scope, headers=[*headers, (b"content-type", b"application/json")])


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


def _spans(raw: list, text: str, where: str) -> list[tuple[int, int]]:
    """Given spans as ``(start, end)``: pairs are REL's ``[start, length]``, objects ``{start, end}``."""
    out = []
    for k, span in enumerate(raw):
        if isinstance(span, SpanObject):
            start, end = span.start, span.end
        elif isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span):
            start, end = span[0], span[0] + span[1]
        else:
            raise ApiError(422, f"{where}[{k}]: a span is [start, length] or {{\"start\", \"end\"}}")
        if not 0 <= start < end <= len(text):
            raise ApiError(422, f"{where}[{k}]: span [{start}, {end}) does not lie within the text's {len(text)} "
                                "characters (start >= 0, length > 0)")
        out.append((start, end))
    return out


def _job(req: LinkRequest, limits: Limits, default_candidates: int) -> tuple[LinkJob, bool]:
    """The request checked against the limits, as a job; and whether it gave a list of texts."""
    many = isinstance(req.text, list)
    texts = req.text if many else [req.text]
    if not texts:
        raise ApiError(422, "text is an empty list: give a text or a list of texts")
    if len(texts) > limits.max_texts:
        raise ApiError(413, f"{len(texts)} texts in one request, over the limit max_texts={limits.max_texts}; "
                            "split them over several requests")
    for k, t in enumerate(texts):
        where = f"text[{k}]" if many else "text"
        if len(t) > limits.max_text_chars:
            raise ApiError(413, f"{where} is {len(t):,} characters, over the limit max_text_chars="
                                f"{limits.max_text_chars:,}; split it into several texts")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(422, f"{where}: character {exc.start} is an unpaired surrogate, not text") from None
    labels = None
    if req.labels is not None:
        labels = tuple(lab.strip() for lab in req.labels)
        if not labels or not all(labels) or any(len(lab) > 200 for lab in labels):
            raise ApiError(422, "labels: give a non-empty list of entity types, each 1 to 200 characters "
                                "(e.g. [\"person\", \"location\"]), or leave labels out for the server's default")
        if len(labels) > limits.max_labels:
            raise ApiError(422, f"{len(labels)} labels, over the limit max_labels={limits.max_labels}")
    candidates = default_candidates if req.candidates is None else req.candidates
    if candidates > limits.max_candidates:
        raise ApiError(422, f"candidates={candidates}, over the limit max_candidates={limits.max_candidates}")
    spans: list = [None] * len(texts)
    if req.spans:
        if many:
            if len(req.spans) != len(texts) or not all(s is None or isinstance(s, list) and
                                                       not _is_pair(s) for s in req.spans):
                raise ApiError(422, f"spans: with {len(texts)} texts, give one list of spans (or null) per text")
            spans = [_spans(s, t, f"spans[{k}]") or None if s is not None else None
                     for k, (s, t) in enumerate(zip(req.spans, texts))]
        else:
            if not all(isinstance(s, SpanObject) or _is_pair(s) for s in req.spans):
                raise ApiError(422, "spans: for one text, give a list of spans: [[start, length], ...] or "
                                    "[{\"start\": s, \"end\": e}, ...]")
            spans = [_spans(req.spans, texts[0], "spans")]
    ids = [str(k) for k in range(len(texts))] if many else ["text"]
    job = LinkJob([Document(i, t) for i, t in zip(ids, texts)], spans, labels, req.threshold, candidates)
    return job, many


def _is_pair(s: Any) -> bool:
    return isinstance(s, list) and len(s) == 2 and all(isinstance(x, int) for x in s)


def create_app(loader: Callable[[], Pipeline] | Pipeline, options: ServeOptions | None = None,
               default_candidates: int = 0, on_load_failure: Callable[[], None] | None = None) -> FastAPI:
    """The application around a pipeline (or a function that loads one, called once on a worker thread).

    A pipeline the app loads itself has its KB closed when the app stops; one passed in stays open.
    ``on_load_failure`` is called (on the event loop) if loading fails, e.g. to stop the server.
    """
    opts = options or ServeOptions()
    limits = opts.limits
    state = _State()
    owned = not isinstance(loader, Pipeline)
    load = loader if owned else (lambda: loader)

    async def load_pipeline() -> None:
        started = time.perf_counter()
        try:
            pipeline = await asyncio.to_thread(load)
        except Exception as exc:
            state.load_error = str(exc) if isinstance(exc, GlinkerError) else f"{type(exc).__name__}: {exc}"
            logger.error("cannot load the model and KB: %s", state.load_error)
            if on_load_failure is not None:
                on_load_failure()
            return
        batcher = MicroBatcher(pipeline, opts.window_ms / 1000, opts.max_batch_docs, limits.max_queue_docs)
        await batcher.start()
        state.pipeline, state.batcher = pipeline, batcher
        logger.info("ready: model and KB %s loaded in %.1f s", pipeline.kb.path, time.perf_counter() - started)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(load_pipeline())
        yield
        loading.cancel()
        if state.batcher is not None:
            await state.batcher.stop()
        if owned and state.pipeline is not None:
            state.pipeline.kb.store.close()

    app = FastAPI(title="glinker", version="0.1.0", lifespan=lifespan,
                  description="Entity linking over Wikidata with a GLiNER span bi-encoder.")
    app.add_middleware(_Guard, max_body_bytes=limits.max_body_bytes)
    app.state.glinker = state

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "the body is not valid JSON: send an object like {\"text\": \"...\"}")
        detail = [{"loc": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "msg": e.get("msg", "")}
                  for e in errors]
        first = "; ".join(f"{d['loc'] or 'body'}: {d['msg']}" for d in detail[:3])
        return _error(422, f"invalid request: {first}", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}; see the server log")

    def ready() -> tuple[Pipeline, MicroBatcher]:
        if state.pipeline is None or state.batcher is None:
            reason = f"loading failed: {state.load_error}" if state.load_error else "model and KB are still loading"
            raise ApiError(503, f"not ready: {reason}; GET /ready says when", {"Retry-After": "5"})
        return state.pipeline, state.batcher

    async def linked(job: LinkJob) -> list[dict]:
        _, batcher = ready()
        todo = [k for k, d in enumerate(job.docs) if d.text.strip()]  # blank texts have nothing to link
        if len(todo) < len(job.docs):
            blank = {k: Document(d.id, d.text).to_dict() for k, d in enumerate(job.docs) if k not in todo}
            if not todo:
                return [blank[k] for k in range(len(job.docs))]
            part = LinkJob([job.docs[k] for k in todo], [job.spans[k] for k in todo], job.labels, job.threshold,
                           job.candidates)
            done = dict(zip(todo, await linked(part)))
            return [done.get(k) or blank[k] for k in range(len(job.docs))]
        try:
            return await batcher.link(job, limits.timeout_s)
        except Busy as exc:
            raise ApiError(429, str(exc), {"Retry-After": "1"}) from None
        except asyncio.TimeoutError:
            raise ApiError(408, f"not linked within timeout_s={limits.timeout_s:g} seconds; send shorter or "
                                "fewer texts, or retry when the server is less busy") from None
        except InputError as exc:
            raise ApiError(422, str(exc)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/health", summary="Liveness: the server answers")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: model and KB loaded", responses={503: ERRORS[503]})
    async def is_ready() -> dict:
        pipeline, batcher = ready()
        return {"status": "ready", "kb": str(pipeline.kb.path), "batches": batcher.batches}

    @app.post("/link", summary="Link one text or a list of texts",
              response_model=DocumentOut | list[DocumentOut], response_model_exclude_unset=True,
              responses=ERRORS)
    async def link(req: LinkRequest) -> Any:
        job, many = _job(req, limits, default_candidates)
        records = await linked(job)
        return JSONResponse(records if many else records[0])

    @app.post("/render", summary="Link, answered as the HTML view's fragment", response_class=HTMLResponse,
              responses=ERRORS)
    async def render(req: LinkRequest) -> HTMLResponse:
        job, many = _job(req, limits, default_candidates)
        records = await linked(job)
        return HTMLResponse(render_legend(records) + "\n".join(render_document(r, show_id=many) for r in records))

    @app.post("/nif", summary="NIF/Turtle in, NIF/Turtle out (GERBIL web-service annotator)",
              response_class=Response, responses={200: {"content": {"text/turtle": {}}}, **ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {"text/turtle": {"schema": {
                  "type": "string"}}}}})
    async def nif(request: Request) -> Response:
        body = await request.body()
        try:
            graph, contexts = await asyncio.to_thread(nif_io.parse_nif, body)
        except InputError as exc:
            raise ApiError(400, str(exc)) from None
        if len(contexts) > limits.max_texts:
            raise ApiError(413, f"{len(contexts)} contexts, over the limit max_texts={limits.max_texts}")
        too_long = [c for c in contexts if len(c.text) > limits.max_text_chars]
        if too_long:
            raise ApiError(413, f"a context is {len(too_long[0].text):,} characters, over the limit max_text_chars="
                                f"{limits.max_text_chars:,}")
        job = LinkJob([Document(str(k), c.text) for k, c in enumerate(contexts)], [c.spans for c in contexts])
        records = await linked(job)
        for context, record in zip(contexts, records):
            nif_io.annotate(graph, context, record["mentions"])
        return Response(await asyncio.to_thread(nif_io.serialize, graph), media_type="text/turtle")

    @app.get("/entity/{qid}", summary="A knowledge-base record", response_model=EntityOut,
             responses={404: ERRORS[422] | {"description": "no such entity in the KB"}, 503: ERRORS[503]})
    async def entity(qid: str = Path(description="Wikidata id, e.g. Q42", max_length=32)) -> Any:
        pipeline, _ = ready()
        record = await asyncio.to_thread(pipeline.kb.store.get, qid) if qid.isascii() else None
        if record is None:
            raise ApiError(404, f"{qid} is not in the knowledge base ({pipeline.kb.path})")
        out = record.to_dict()
        out.pop("row", None)
        return out

    return app
