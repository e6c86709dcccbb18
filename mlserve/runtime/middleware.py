"""Pure ASGI middleware: request ids, prediction metrics and the access log.

Pure ASGI (not BaseHTTPMiddleware) so the hot path adds one function call and no task.
"""

from __future__ import annotations

import logging
import time
import uuid

from mlserve.runtime.metrics import Metrics

access_log = logging.getLogger("mlserve.access")

REQUEST_ID_KEY = "mlserve.request_id"
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")  # probes: logged at debug level only


def _client_request_id(headers) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # Echo only ids that are safe in a header and a log line.
            if 0 < len(text) <= 200 and text.isprintable():
                return text
            return None
    return None


class RequestMiddleware:
    def __init__(self, app, counted: frozenset[str], metrics: Metrics) -> None:
        """`counted`: the paths whose POSTs are predictions (the endpoint and protocol routes)."""
        self.app, self.counted, self.metrics = app, counted, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope["headers"]) or uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        path = scope["path"]
        counted = path in self.counted and scope["method"] == "POST"  # not a GET of the page
        status = 500
        finished = False
        start = time.perf_counter()

        def finish() -> None:
            # Runs before the last body chunk leaves, so a client that has its answer also
            # sees it in /metrics and the access log.
            nonlocal finished
            finished = True
            elapsed = time.perf_counter() - start
            if counted:
                self.metrics.in_flight.dec()
                self.metrics.observe(status, elapsed)
                if status >= 500:
                    self.metrics.recent_errors.add(status, request_id, path)
            level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
            if access_log.isEnabledFor(level):
                client = scope.get("client")
                access_log.log(level, '%s "%s %s" %d %.1fms request_id=%s',
                               f"{client[0]}:{client[1]}" if client else "-", scope["method"], path,
                               status, elapsed * 1000, request_id,
                               extra={"request_id": request_id, "status": status,
                                      "latency_ms": round(elapsed * 1000, 1)})

        async def send_with_id(message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif kind == "http.response.body" and not message.get("more_body", False) and not finished:
                finish()
            await send(message)

        if counted:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not finished:
                finish()
