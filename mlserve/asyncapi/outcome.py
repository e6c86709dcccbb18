"""A prediction's answer as a record: the data plane's Response or stream, captured by a Wire.

The worker runs each item through the runtime's `DataPlane.handle` with a `Capture` wire, so an
item is decoded, type-checked, timed out and streamed exactly as a RealtimeAPI request would be;
this wire only keeps what would have been sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from mlserve.asyncapi.records import State
from mlserve.errors import MlserveError
from mlserve.runtime.payload import error_body
from mlserve.runtime.wire import Wire


class Capture(Wire):
    """mlserve's own format, kept instead of sent. `stream`: ask a predictor with `stream()` for it
    (its items reach `on_item` as they come: the record's partial output)."""

    def __init__(self, stream: bool, on_item: Callable[[list], None]) -> None:
        self.stream, self.on_item = stream, on_item
        self.items: list[Any] = []
        self.failure: dict | None = None

    def read(self, body: bytes, headers: dict[str, str], plane) -> tuple[Any, bool]:
        payload, _ = super().read(body, headers, plane)
        return payload, self.stream and plane.host.predictor.stream is not None

    def event(self, item: Any) -> bytes:
        self.items.append(item)
        self.on_item(self.items)
        return b""

    def end(self) -> bytes:
        return b""

    def error_event(self, err: MlserveError, request_id: str) -> bytes:
        self.failure = json.loads(error_body(err, request_id))
        return b""


def joined(items: list) -> Any:
    """A stream's items as one result: text joined, anything else as the list of items."""
    return "".join(items) if all(isinstance(i, str) for i in items) else items


async def drain(stream) -> None:
    """Run an EventStream (an ASGI app) to its end with nobody listening: it sends into the Capture wire."""
    never = asyncio.Event()

    async def receive() -> dict:
        await never.wait()  # the "client" never disconnects
        return {"type": "http.disconnect"}

    async def send(_message: dict) -> None:
        return None

    await stream({"type": "http"}, receive, send)


def from_response(response: Response, item_id: str) -> dict:
    """The record fields of a finished answer: status, and result or error."""
    content_type = response.headers.get("content-type", "")
    body = getattr(response, "body", None)
    if body is None:  # a StreamingResponse the predictor built itself: nothing to keep
        return {"status": State.FAILED, "error": {
            "error": "the predictor returned a streaming response, which an AsyncAPI cannot keep",
            "request_id": item_id, "hint": "return the whole result (or yield items from stream())"}}
    if response.status_code >= 400:
        return {"status": State.FAILED, "error": json.loads(body)}
    if content_type.startswith("application/json"):
        return {"status": State.COMPLETED, "result": json.loads(body)}
    if content_type.startswith("text/"):
        return {"status": State.COMPLETED, "result": body.decode("utf-8", errors="replace")}
    return {"status": State.COMPLETED, "result": base64.b64encode(body).decode(), "result_encoding": "base64",
            "content_type": content_type}


def from_stream(capture: Capture, returned: Any, item_id: str) -> dict:
    """A stream run to its end: its result is what the generator returned (`return value` after the last
    yield: the predictor's whole answer, as predict() gives it), encoded as a realtime answer would be;
    a generator that returned nothing leaves the items joined. The items were only the partial output."""
    if capture.failure is not None:
        return {"status": State.FAILED, "error": capture.failure, "partial": joined(capture.items)}
    if returned is not None:
        return from_response(capture.answer(returned), item_id)
    return {"status": State.COMPLETED, "result": joined(capture.items)}
