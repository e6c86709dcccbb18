"""The FastAPI app serving one API: `create_app(project_root, api)` wires the parts together.

The predictor host (host.py) loads the predictor in the background, so /healthz and /readyz answer
while a model loads; the data plane (dataplane.py) answers predictions, through the Runner
(runner.py), the one caller of user code. The prediction routes are plain ASGI handlers
(http.py: no per-request dependency solving or body models) for latency.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlserve import __version__
from mlserve.errors import MlserveError
from mlserve.runtime import typed
from mlserve.runtime.auth import ApiKeyGuard, open_paths
from mlserve.runtime.dataplane import DataPlane
from mlserve.runtime.docs import add_docs
from mlserve.runtime.errors import add_error_handlers
from mlserve.runtime.host import PredictorHost
from mlserve.runtime.http import PredictEndpoint
from mlserve.runtime.mesh import PathAlias, mesh_path
from mlserve.runtime.metrics import CONTENT_TYPE, Metrics
from mlserve.runtime.middleware import RequestMiddleware
from mlserve.runtime.multimodel import PATH as MODELS
from mlserve.runtime.openai import error_renderer, openai_routes
from mlserve.runtime.recent import PATH as RECENT_ERRORS
from mlserve.runtime.v2 import v2_routes
from mlserve.spec import APISpec
from mlserve.spec.api_key import read_api_key


def _openapi(app: FastAPI, api: APISpec, host: PredictorHost) -> Callable[[], dict]:
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
            if not host.ready or host.predictor is None:
                return schema  # the request/response models are known once the predictor has loaded
            predict = host.predictor.predict
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
    host = PredictorHost(Path(project_root).resolve(), api, on_init_failure)
    plane = DataPlane(host, metrics, processes)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        plane.start()
        try:
            yield
        finally:
            await plane.stop()
            metrics.close()

    app = FastAPI(title=f"mlserve: {api.name}", lifespan=lifespan, redoc_url=None, docs_url=None)
    add_docs(app, f"mlserve: {api.name}")
    app.state.plane = plane
    app.router.routes.append(Route(api.endpoint, PredictEndpoint(plane), methods=["POST"]))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        status, body = host.readiness()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get(RECENT_ERRORS, include_in_schema=False)
    async def recent_errors() -> dict:
        return {"recent": metrics.recent_errors.latest()}

    if plane.models is not None:
        multi = plane.models

        @app.get(MODELS, include_in_schema=False)
        async def models() -> dict:
            return multi.describe()

    # The protocols' routes (before the static files, which may be served under the endpoint).
    base = api.endpoint.rstrip("/")
    protocol_routes = [*openai_routes(plane, base), *v2_routes(plane, __version__)]
    app.router.routes.extend(protocol_routes)
    predictions = frozenset([api.endpoint, *(r.path for r in protocol_routes if "POST" in (r.methods or ()))])

    static = api.static_folder(host.root)
    if static is not None:  # after the routes above, so /healthz etc. win under endpoint "/"
        from mlserve.runtime.static import static_routes

        app.router.routes.extend(static_routes(static, api.endpoint, host.root))

    app.openapi = _openapi(app, api, host)  # type: ignore[method-assign]
    add_error_handlers(app)
    key = read_api_key(api)  # None for an open API
    if key is not None:
        app.add_middleware(ApiKeyGuard, key=key.encode(),
                           open_paths=open_paths(api.networking.metrics_require_api_key), render=error_renderer(base))
    app.add_middleware(RequestMiddleware, counted=predictions, metrics=metrics)
    if alias:  # outermost: everything after it sees the API's own endpoint (runtime/mesh.py)
        app.add_middleware(PathAlias, alias=alias, endpoint=api.endpoint)
    return app
