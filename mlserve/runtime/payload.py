"""Request bodies in, responses out: Cortex's Content-Type and return-type dispatch.

Payload by Content-Type: JSON -> parsed object, text/plain -> str, anything else -> bytes.
Result by type: a Starlette Response as is, str -> text/plain, bytes -> octet-stream,
anything else -> JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.responses import Response

from mlserve.errors import MlserveError, Overloaded, PayloadTooLarge, PredictorError, RequestError, RequestTimeout

# Seconds a client may take to send its request head, and may stay silent while sending its body (408).
READ_TIMEOUT = 10.0


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def request_headers(scope: Mapping[str, Any]) -> dict[str, str]:
    # ASGI servers lower-case header names; a repeated header keeps its last value.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def query_params(scope: dict) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


async def read_body(receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes whether announced or sent chunked."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(int(declared), limit), hint=_TOO_LARGE_HINT)
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout(f"no part of the request body arrived for {READ_TIMEOUT:g}s "
                              f"({size} bytes received)", hint="send the whole body without pausing") from None
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(_too_large(size, limit, at_least=True), hint=_TOO_LARGE_HINT)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_TOO_LARGE_HINT = "send a smaller body, or raise predictor.max_body_bytes in cortex.yaml and deploy again"


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    got = f"at least {size}" if at_least else str(size)
    return f"the request body is {got} bytes; this API accepts at most {limit} (predictor.max_body_bytes)"


def decode(body: bytes, content_type: str) -> Any:
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        try:
            return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:
            raise RequestError("the JSON body is nested too deeply (the limit is several hundred levels)",
                               hint="flatten the document") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise RequestError(f"the body is not valid JSON: {e}",
                               hint="send a JSON document or change the Content-Type") from None
    if mime == "text/plain":
        charset = "utf-8"
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError) as e:
            raise RequestError(f"the text/plain body cannot be decoded as {charset}: {e}",
                               hint="send text in the charset the Content-Type names (utf-8 when none)") from None
    return body


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity, which JSON does not have (and answers cannot carry).
    raise ValueError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    # 1e400 overflows to infinity: refused like Infinity itself, rather than reaching the predictor.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float (it overflows to infinity)")
    return value


def _json_default(obj: Any) -> Any:
    # numpy arrays/scalars and torch tensors all have tolist(); pydantic models have model_dump().
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def to_json(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def encode(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    try:
        body = to_json(result)
    except (TypeError, ValueError, RecursionError) as e:
        raise PredictorError(
            f"predict() returned a {type(result).__name__} that cannot be sent as JSON: {e}",
            hint="return JSON-serialisable data (no NaN/inf), a str, bytes or a starlette Response",
        ) from None
    return Response(body, media_type="application/json")


def error_body(err: MlserveError, request_id: str) -> bytes:
    # Every error answer says what to do; an error raised without a hint still gets a general one.
    hint = err.hint or ("see GET /docs for what this API accepts" if err.http_status < 500
                        else f"see the API's logs for request {request_id}")
    return to_json({"error": err.message, "request_id": request_id, "hint": hint})


def error_response(err: MlserveError, request_id: str, body: bytes | None = None) -> Response:
    """`err` as an HTTP answer: `body` (a protocol's own error shape) or mlserve's."""
    headers = {"retry-after": str(err.retry_after)} if isinstance(err, Overloaded) else None
    return Response(error_body(err, request_id) if body is None else body, status_code=err.http_status,
                    headers=headers, media_type="application/json")


def http_exception_response(exc: HTTPException, request_id: str) -> Response:
    """An HTTPException a predictor written for FastAPI raised: its status, detail and headers, in the error shape."""
    return Response(to_json({"error": exc.detail, "request_id": request_id,
                             "hint": "see GET /docs for what this API accepts"}),
                    status_code=exc.status_code, headers=exc.headers, media_type="application/json")
