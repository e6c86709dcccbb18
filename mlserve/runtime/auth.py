"""Optional API keys: `networking.api_key_env` names the environment variable holding the key.

Requests send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`; it is compared in
constant time (the OpenAI client sends its api_key as the Bearer token). Probes (/healthz,
/readyz and the Open Inference Protocol's /v2/health/...) stay open, and /metrics unless
`networking.metrics_require_api_key` is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.responses import Response

from mlserve.errors import MlserveError, Unauthorized
from mlserve.runtime.middleware import REQUEST_ID_KEY
from mlserve.runtime.recent import PATH as RECENT_ERRORS

PROBES = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready")  # the last two: runtime/v2.py
HINT = "send the key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def open_paths(metrics_require_api_key: bool) -> tuple[str, ...]:
    """Paths served without a key: the probes, and the operational read-outs (/metrics and the
    recent 5xx list that `mlserve get API` reads) unless metrics_require_api_key is set."""
    return PROBES if metrics_require_api_key else (*PROBES, "/metrics", RECENT_ERRORS)


def _sent_key(headers) -> bytes | None:
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
    return None


class ApiKeyGuard:
    """Pure ASGI middleware answering 401 to requests without the right key; `render(path, error,
    request_id)` writes the answer in the shape that path's protocol speaks."""

    def __init__(self, app, key: bytes, open_paths: tuple[str, ...],
                 render: Callable[[str, MlserveError, str], Response]) -> None:
        self.app, self.key, self.open_paths, self.render = app, key, open_paths, render

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            sent = _sent_key(scope["headers"])
            if sent is None or not hmac.compare_digest(sent, self.key):
                problem = "no API key was sent" if sent is None else "the API key is wrong"
                response = self.render(scope["path"], Unauthorized(f"{problem}; this API requires one", hint=HINT),
                                       scope[REQUEST_ID_KEY])
                response.headers["www-authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
