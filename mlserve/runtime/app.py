"""The FastAPI app serving one API: `create_app(project_root, api)`.

The predictor is imported and its `__init__` run in a background thread at startup, so
/healthz and /readyz answer while a model loads. The prediction endpoint is a plain ASGI
handler (no per-request dependency solving or body models) for latency.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlserve import __version__
from mlserve.errors import MlserveError, Overloaded, PredictorError, PredictorTimeout, Superseded
from mlserve.runtime import typed
from mlserve.runtime.auth import ApiKeyGuard, open_paths
from mlserve.runtime.batching import Batcher
from mlserve.runtime.docs import add_docs
from mlserve.runtime.errors import add_error_handlers
from mlserve.runtime.identity import instance
from mlserve.runtime.limits import PREDICTOR_EXCEPTIONS, Limiter, Runner
from mlserve.runtime.loader import Method, PredictorClass, load_predictor_class, user_traceback
from mlserve.runtime.mesh import PathAlias, mesh_path
from mlserve.runtime.metrics import CONTENT_TYPE, Metrics
from mlserve.runtime.middleware import RequestMiddleware
from mlserve.runtime.openai import error_renderer, openai_routes
from mlserve.runtime.payload import ClientGone, query_params, read_body, request_headers, to_json
from mlserve.runtime.recent import PATH as RECENT_ERRORS
from mlserve.runtime.sessions import SUPERSEDED, RequestControl, Sessions
from mlserve.runtime.streaming import EventStream
from mlserve.runtime.v2 import v2_routes
from mlserve.runtime.wire import NATIVE, PredictEndpoint, Wire
from mlserve.spec import APISpec
from mlserve.spec.api_key import read_api_key

log = logging.getLogger("mlserve.runtime")


class Service:
    """One API's serving state: the predictor, limits, sessions, batcher and metrics."""

    def __init__(self, root: Path, api: APISpec, metrics: Metrics, processes: int,
                 on_init_failure: Callable[[MlserveError], None] | None) -> None:
        self.root, self.api, self.metrics = root, api, metrics
        self.on_init_failure = on_init_failure
        p = api.predictor
        self.timeout = p.request_timeout
        self.max_body = p.max_body_bytes
        # max_replica_concurrency is per replica; each worker process takes its share.
        self.limiter = Limiter(
            slots=p.threads_per_process,
            max_in_flight=math.ceil(api.autoscaling.max_replica_concurrency / processes),
            max_wait=p.max_queue_wait, max_queue=p.max_queue_length,
            batch_size=p.server_side_batching.max_batch_size if p.server_side_batching else 0)
        self.sessions = Sessions()
        self.ready = False
        self.failure: MlserveError | None = None
        self.predictor: PredictorClass | None = None
        self.instance: Any = None
        self.runner: Runner | None = None
        self.batcher: Batcher | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.runner = Runner(self.limiter, self.api.predictor.threads_per_process)
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._load, args=(loop,), name="predictor-init", daemon=True).start()

    def _load(self, loop: asyncio.AbstractEventLoop) -> None:
        started = time.perf_counter()
        try:
            predictor = load_predictor_class(self.api, self.root)
            instance = predictor.instantiate(self.api.predictor.config)
        except MlserveError as e:
            log.error("api %s: the predictor failed to load\n%s", self.api.name, e)
            self._fail(loop, e)
            return
        except BaseException as e:  # a bug outside the user's code; still fatal for this API
            log.error("api %s: loading the predictor failed\n%s", self.api.name, user_traceback(e))
            self._fail(loop, PredictorError(f"loading the predictor failed: {e!r}",
                                                      hint="see the API's logs for the traceback"))
            return
        log.info("api %s: ready in %.1fs", self.api.name, time.perf_counter() - started)
        try:
            loop.call_soon_threadsafe(self._ready, predictor, instance)
        except RuntimeError:
            pass  # the server stopped while the predictor was loading

    def _fail(self, loop: asyncio.AbstractEventLoop, error: MlserveError) -> None:
        self.failure = error
        if self.on_init_failure is not None:
            self.on_init_failure(error)

    def _ready(self, predictor: PredictorClass, instance: Any) -> None:
        self.predictor, self.instance = predictor, instance
        batching = self.api.predictor.server_side_batching
        if batching is not None:
            self.batcher = Batcher(self.runner, self.limiter, self.metrics, instance, predictor.predict,
                                   batching.max_batch_size, batching.batch_interval, self.timeout)
            self.batcher.start(self.api.predictor.threads_per_process)
        self.ready = True

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        if self.runner is not None:
            self.runner.shutdown()
        self.metrics.close()

    # -- requests --------------------------------------------------------------------------

    def _method(self, streamed: bool) -> Method:
        stream = self.predictor.stream
        return stream if streamed and stream is not None else self.predictor.predict

    async def _call(self, method: Method, values: dict, control: RequestControl) -> Any:
        if self.batcher is not None and method is self.predictor.predict:
            return await self.batcher.submit(values, control.request_id)
        fn = getattr(self.instance, method.name)
        if method.is_generator:
            return fn(**method.kwargs(values))  # the items are pulled in slots by EventStream
        return await self.runner.call(fn, method.is_async, **method.kwargs(values))

    def _finish(self, control: RequestControl) -> None:
        self.limiter.leave()
        self.sessions.release(control)

    def unready(self) -> Overloaded | None:
        """Why predictions cannot be answered yet; None once the predictor is ready."""
        if self.ready:
            return None
        if self.failure is not None:
            return Overloaded("the predictor failed to load", retry_after=30,
                              hint="see the API's logs, fix the error and deploy again")
        return Overloaded("the predictor is still loading", retry_after=2, hint="wait until GET /readyz answers 200")

    async def handle(self, scope, receive, request_id: str, wire: Wire = NATIVE):
        """Answer one prediction request; returns an ASGI response. `wire` translates a
        protocol's request into the predictor's payload and the result back (wire.py)."""
        if not self.ready:
            return wire.error(self.unready(), request_id)
        headers = request_headers(scope)
        try:
            # Admitted only once the body is in: a client stalling mid-body holds no slot.
            body = await read_body(receive, headers, self.max_body)
            self.limiter.admit()
        except MlserveError as e:
            return wire.error(e, request_id)
        except ClientGone:
            return Response(status_code=499)  # never sent: the client has gone
        control = RequestControl(request_id)
        streaming = False
        deadline = None
        try:
            payload, streamed = wire.read(body, headers, self)
            query = query_params(scope)
            session = headers.get("x-session-id") or query.get("session_id")
            if session:
                self.sessions.claim(session, control)
            method = self._method(streamed)
            if method.payload_model is not None:
                payload = typed.validate(method.payload_model, payload)
            values = {"payload": payload, "query_params": query, "headers": headers}
            try:
                async with asyncio.timeout(self.timeout) as deadline:
                    control.attach(deadline)
                    result = await self._call(method, values, control)
            finally:
                control.detach()
            if inspect.isgenerator(result) or inspect.isasyncgen(result):
                streaming = True
                return EventStream(result, self.runner, control, self.timeout, lambda: self._finish(control), wire)
            return wire.answer(result)
        except TimeoutError as e:
            if deadline is None or not deadline.expired():  # the predictor's own TimeoutError
                return self._failed(e, request_id, wire)
            if control.reason == SUPERSEDED:
                self.metrics.superseded.inc()
                return wire.error(Superseded(f"a newer request of session '{control.session}' replaced this one",
                                             hint="read the newer request's answer"), request_id)
            return wire.error(PredictorTimeout(
                f"the predictor took longer than request_timeout ({self.timeout:g}s)",
                hint="raise predictor.request_timeout in cortex.yaml or make predict faster"), request_id)
        except MlserveError as e:
            if e.http_status >= 500:
                log.error("request %s: %s", request_id, e)
            return wire.error(e, request_id)
        except HTTPException as e:  # raised by predictors written for FastAPI
            return Response(to_json({"error": e.detail, "request_id": request_id,
                                     "hint": "see GET /docs for what this API accepts"}),
                            status_code=e.status_code,
                            headers=e.headers, media_type="application/json")
        except PREDICTOR_EXCEPTIONS as e:
            return self._failed(e, request_id, wire)
        finally:
            if not streaming:
                self._finish(control)

    def _failed(self, exc: BaseException, request_id: str, wire: Wire) -> Response:
        log.error("request %s: predict raised\n%s", request_id, user_traceback(exc),
                  extra={"request_id": request_id, "status": 500})
        return wire.error(PredictorError(
            f"the predictor failed; the traceback is in the API's logs (request id {request_id})",
            hint=f"`mlserve logs {self.api.name}` shows it; retrying will not help until the predictor is fixed"),
            request_id)


def _openapi(app: FastAPI, api: APISpec) -> Callable[[], dict]:
    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=f"mlserve: {api.name}", version="1", routes=app.routes)
            binary = {"schema": {"type": "string", "format": "binary"}}
            schema["paths"][api.endpoint] = {"post": {
                "summary": f"Predict with {api.name}",
                "description": "JSON bodies arrive as objects, text/plain as str, anything else as bytes. "
                               "Send `Accept: text/event-stream` to stream, `X-Session-ID` to supersede "
                               "older requests of a session.",
                "requestBody": {"content": {"application/json": {"schema": {}},
                                            "text/plain": {"schema": {"type": "string"}},
                                            "application/octet-stream": binary}},
                "responses": {code: {"description": text} for code, text in (
                    ("200", "The prediction"), ("400", "Bad request"), ("401", "API key missing or wrong"),
                    ("408", "The request body stalled"), ("409", "Superseded"),
                    ("413", "Body too large"), ("500", "Predictor failed"), ("503", "Overloaded or loading"),
                    ("504", "Predictor timed out"))},
            }}
            service: Service = app.state.service
            if not service.ready:
                return schema  # the request/response models are known once the predictor has loaded
            predict = service.predictor.predict
            typed.add_schemas(schema, schema["paths"][api.endpoint]["post"], predict.payload_model,
                              predict.response_model)
            app.openapi_schema = schema
        return app.openapi_schema
    return openapi


def create_app(project_root: str | Path, api: APISpec, *, processes: int = 1,
               metrics_dir: str | None = None,
               on_init_failure: Callable[[MlserveError], None] | None = None) -> FastAPI:
    """A FastAPI app serving `api`. `on_init_failure` is called (from the loading thread) when
    the predictor cannot be loaded; without it the app stays unready and /readyz says why.
    With MLSERVE_MESH_PATH set, predictions are answered on that path too (runtime/mesh.py)."""
    alias = mesh_path()  # a bad value fails before anything is set up
    metrics = Metrics(api.name, metrics_dir)
    service = Service(Path(project_root).resolve(), api, metrics, processes, on_init_failure)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title=f"mlserve: {api.name}", lifespan=lifespan, redoc_url=None, docs_url=None)
    add_docs(app, f"mlserve: {api.name}")
    app.state.service = service
    app.router.routes.append(Route(api.endpoint, PredictEndpoint(service), methods=["POST"]))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        if service.ready:
            return JSONResponse({"ready": True, **instance()})
        body: dict = {"ready": False}
        if service.failure is not None:
            body["error"] = service.failure.message
        return JSONResponse(body, status_code=503)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get(RECENT_ERRORS, include_in_schema=False)
    async def recent_errors() -> dict:
        return {"recent": metrics.recent_errors.latest()}

    # The protocols' routes (before the static files, which may be served under the endpoint).
    base = api.endpoint.rstrip("/")
    protocol_routes = [*openai_routes(service, base), *v2_routes(service, __version__)]
    app.router.routes.extend(protocol_routes)
    predictions = frozenset([api.endpoint, *(r.path for r in protocol_routes if "POST" in (r.methods or ()))])

    static = api.static_folder(service.root)
    if static is not None:  # after the routes above, so /healthz etc. win under endpoint "/"
        from mlserve.runtime.static import static_routes

        app.router.routes.extend(static_routes(static, api.endpoint, service.root))

    app.openapi = _openapi(app, api)  # type: ignore[method-assign]
    add_error_handlers(app)
    if api.networking.api_key_env:
        app.add_middleware(ApiKeyGuard, key=read_api_key(api).encode(),
                           open_paths=open_paths(api.networking.metrics_require_api_key), render=error_renderer(base))
    app.add_middleware(RequestMiddleware, counted=predictions, metrics=metrics)
    if alias:  # outermost: everything after it sees the API's own endpoint (runtime/mesh.py)
        app.add_middleware(PathAlias, alias=alias, endpoint=api.endpoint)
    return app
