"""The splitter's request path: choose a backend, forward, stream the answer back unchanged.

Retry rule: a request is sent to another backend only when its chosen one refused the connection
(nothing was sent, so nothing can run twice). A backend that fails after the request reached it
gives the client 503 (the same for every method: the proxy cannot know whether a predict is safe to
repeat). Shadow copies go out after the primary is chosen, run in their own tasks, and are read
and dropped: they never delay, change or fail the client's answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import Counter
from yarl import URL

from mlserve.contract.metrics import SPLITTER_REQUESTS
from mlserve.errors import MlserveError, Overloaded
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.payload import error_body
from mlserve.splitter.routes import Backend, Routes, RoutesSource

log = logging.getLogger("mlserve.splitter")

API_HEADER = "X-Mlserve-API"  # names the API that answered
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                         "trailer", "transfer-encoding", "upgrade", "host", "content-length"))
SMALL_BODY = 64 * 1024  # answers up to this size (with a Content-Length) are relayed whole
MAX_SHADOW_IN_FLIGHT = 256  # beyond this, shadow copies are dropped (counted) instead of queued


class Proxy:
    def __init__(self, source: RoutesSource, session: aiohttp.ClientSession, timeout: float) -> None:
        self.source, self.session, self.timeout = source, session, timeout
        self.routes: Routes = source.load()
        self.metrics = Metrics(self.routes.splitter)
        self.backend_requests = Counter(SPLITTER_REQUESTS, "Requests the splitter sent to each api.",
                                        ["splitter", "api", "code", "role"], registry=self.metrics.registry)
        self.shadow_dropped = Counter("mlserve_splitter_shadow_dropped", "Shadow copies not sent (too many pending).",
                                      ["splitter"], registry=self.metrics.registry).labels(self.routes.splitter)
        self._shadows: set[asyncio.Task] = set()
        self._checked = 0.0

    def reload(self) -> None:
        """Take a new routing table; a broken one is logged and the old one kept."""
        try:
            routes = self.source.load()
        except MlserveError as e:
            log.error("routing table not reloaded: %s", e)
            return
        if routes.version != self.routes.version:
            log.info("routing table %s: %s", routes.version,
                     ", ".join(f"{b.name} {'shadow' if b.shadow else b.weight}" for b in routes.backends))
        self.routes = routes

    def _fresh_routes(self) -> Routes:
        now = time.monotonic()
        if now - self._checked > 0.1:  # one stat() per 100 ms at most
            self._checked = now
            if self.source.changed():
                self.reload()
        return self.routes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        routes = self._fresh_routes()
        request_id = _request_id(request)
        body = await request.read()
        headers = _forward_headers(request.headers, request_id)
        if routes.backend_path(routes.primaries[0], request.path) is None:
            return self._error(404, f"no route for {request.path}", request_id, f"POST to {routes.endpoint}", started)
        tried: tuple[Backend, ...] = ()
        backend = routes.choose()
        path = routes.backend_path(backend, request.path)
        if routes.shadow is not None:
            self._shadow(routes.shadow, request, routes.backend_path(routes.shadow, request.path), body, headers)
        while backend is not None:
            try:
                upstream = await self.session.request(
                    request.method, _url(backend, path, request), data=body, headers=headers, allow_redirects=False)
            except aiohttp.ClientConnectorError:
                # Nothing reached the backend: the request may go to another one.
                self._count(backend, 503, "primary")
                tried += (backend,)
                backend = routes.choose(exclude=tried)
                path = backend and routes.backend_path(backend, request.path)
                continue
            except (TimeoutError, aiohttp.ClientError) as e:
                self._count(backend, 503, "primary")
                return self._error(503, f"api '{backend.name}' failed before answering ({type(e).__name__})",
                                   request_id, f"`mlserve logs {backend.name}` shows why", started, backend)
            return await self._relay(request, upstream, backend, request_id, started)
        names = ", ".join(b.name for b in tried)
        return self._error(503, f"no api of splitter '{routes.splitter}' is reachable (tried {names})", request_id,
                           "`mlserve get` shows which apis are down; they restart by themselves", started,
                           tried[0] if tried else None)

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse, backend: Backend,
                     request_id: str, started: float) -> web.StreamResponse:
        async with upstream:
            headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP)
            headers[API_HEADER] = backend.name
            length = upstream.content_length
            if length is not None and length <= SMALL_BODY:
                # The common case, a small whole answer: one write instead of three.
                body = await upstream.read()
                self._answered(backend, upstream.status, started)
                return web.Response(status=upstream.status, reason=upstream.reason, body=body, headers=headers)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            if length is not None:
                response.content_length = length
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():  # as it arrives: SSE events stay separate
                    await response.write(chunk)
                await response.write_eof()
            except (TimeoutError, aiohttp.ClientError) as e:
                # The status line is gone already: all the client can learn is a cut-off body.
                log.warning("api '%s' broke off its answer to request %s: %s", backend.name, request_id, e)
                if request.transport is not None:
                    request.transport.close()
            except ConnectionResetError:
                pass  # the client left; closing `upstream` tells the API, which stops generating
        self._answered(backend, upstream.status, started)
        return response

    def _answered(self, backend: Backend, status: int, started: float) -> None:
        self._count(backend, status, "primary")
        self.metrics.observe(status, time.perf_counter() - started)

    def _shadow(self, backend: Backend, request: web.Request, path: str | None, body: bytes,
                headers: CIMultiDict) -> None:
        if path is None or len(self._shadows) >= MAX_SHADOW_IN_FLIGHT:
            self.shadow_dropped.inc()
            return
        task = asyncio.get_running_loop().create_task(
            self._send_shadow(backend, request.method, _url(backend, path, request), body, headers))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _send_shadow(self, backend: Backend, method: str, url: URL, body: bytes,
                           headers: CIMultiDict) -> None:
        try:
            async with self.session.request(method, url, data=body, headers=headers, allow_redirects=False) as answer:
                await answer.read()
                code = answer.status
        except (TimeoutError, aiohttp.ClientError) as e:
            log.warning("shadow api '%s' failed: %s", backend.name, e)
            code = 503
        if code >= 500:
            log.warning("shadow api '%s' answered %s (request %s)", backend.name, code, headers.get("X-Request-ID"))
        self._count(backend, code, "shadow")

    def _count(self, backend: Backend, code: int, role: str) -> None:
        self.backend_requests.labels(self.routes.splitter, backend.name, str(code), role).inc()

    def _error(self, status: int, message: str, request_id: str, hint: str, started: float,
               backend: Backend | None = None) -> web.Response:
        self.metrics.observe(status, time.perf_counter() - started)
        err = Overloaded(message, hint=hint) if status == 503 else MlserveError(message, hint=hint)
        headers = {"X-Request-ID": request_id}
        if backend is not None:
            headers[API_HEADER] = backend.name
        if status == 503:
            headers["Retry-After"] = "1"
        return web.Response(status=status, body=error_body(err, request_id), headers=headers,
                            content_type="application/json")

    async def close(self) -> None:
        for task in list(self._shadows):
            task.cancel()


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-ID", "")
    # Echo only ids that are safe in a header and a log line (as the runtime does).
    return given if 0 < len(given) <= 200 and given.isprintable() else uuid.uuid4().hex


def _url(backend: Backend, path: str, request: web.Request) -> URL:
    # The query string goes on exactly as the client wrote it (no decoding and re-encoding).
    query = request.rel_url.raw_query_string
    return URL(f"{backend.base}{path}?{query}" if query else f"{backend.base}{path}", encoded=True)


def _forward_headers(incoming, request_id: str) -> CIMultiDict:
    headers = CIMultiDict((k, v) for k, v in incoming.items() if k.lower() not in _HOP_BY_HOP)
    headers["X-Request-ID"] = request_id  # one id from the client through the splitter to the API
    return headers
