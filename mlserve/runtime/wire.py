"""How a route reads its request and writes its answer: mlserve's own format, or a protocol's.

`DataPlane.handle` (dataplane.py) runs every prediction route the same way (admission, sessions,
the typed check, server-side batching, timeouts, streaming in slots); a `Wire` only translates at
the edges. This base class is mlserve's own format (payload.py); the OpenAI (openai.py) and Open
Inference Protocol (v2.py) routes subclass it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from mlserve.errors import MlserveError
from mlserve.runtime.payload import decode, encode, error_body, error_response, to_json

if TYPE_CHECKING:
    from mlserve.runtime.dataplane import DataPlane


def event(item: Any) -> bytes:
    """One Server-Sent Event carrying `item` (text as is, anything else as JSON)."""
    if isinstance(item, (bytes, bytearray)):
        item = bytes(item).decode("utf-8", errors="replace")
    text = item if isinstance(item, str) else to_json(item).decode()
    return "".join(f"data: {line}\n" for line in text.split("\n")).encode() + b"\n"


class Wire:
    """mlserve's own format: Content-Type decides the payload, `Accept: text/event-stream` streams."""

    done = False  # a stream's wire may end it early (an OpenAI stop sequence): no more items are pulled

    def read(self, body: bytes, headers: dict[str, str], plane: DataPlane) -> tuple[Any, bool]:
        """The predictor's payload, and whether the answer is to stream."""
        return decode(body, headers.get("content-type", "")), "text/event-stream" in headers.get("accept", "")

    def answer(self, result: Any) -> Response:
        return encode(result)

    def error(self, err: MlserveError, request_id: str) -> Response:
        return error_response(err, request_id)

    def event(self, item: Any) -> bytes:
        return event(item)

    def end(self) -> bytes:
        return b"event: end\ndata: \n\n"

    def error_event(self, err: MlserveError, request_id: str) -> bytes:
        return b"event: error\ndata: " + error_body(err, request_id) + b"\n\n"


NATIVE = Wire()
