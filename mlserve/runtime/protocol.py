"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol with limits and JSON errors.

uvicorn answers malformed requests itself, in text/plain, and has no limit on the size of a
request head nor on how long a client may take to send it (httptools buffers all of it). This
subclass adds both and writes every answer it makes itself in mlserve's error shape:
- a request line longer than `MAX_HEAD_BYTES` -> 414, a longer request head -> 431;
- a request head not complete within `READ_TIMEOUT` seconds of its first byte (or of the
  connection opening) -> 408;
- malformed HTTP -> 400.
After such an answer, and after any answer that closes the connection before the request body was
read (a 413), the connection closes by a lingering close (linger.py), so the answer is not lost to a
TCP reset.
The body's read timeout lives in the app (`payload.read_body`), where the body is read.
"""

from __future__ import annotations

import asyncio
import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlserve.errors import HeadTooLarge, MlserveError, RequestError, RequestTimeout, UrlTooLong
from mlserve.runtime.linger import LingeringTransport
from mlserve.runtime.payload import READ_TIMEOUT, error_body

# Request line + headers. Browsers send < 8 KiB; nginx's default allows 32 KiB.
MAX_HEAD_BYTES = 64 * 1024


def raw_error(err: MlserveError) -> bytes:
    """A complete HTTP/1.1 response (closing the connection) in mlserve's error shape."""
    request_id = uuid.uuid4().hex
    body = error_body(err, request_id)
    head = (f"HTTP/1.1 {err.http_status} {_REASONS.get(err.http_status, 'Error')}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("ascii") + body


_REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
            431: "Request Header Fields Too Large"}


def _head_too_large() -> HeadTooLarge:
    return HeadTooLarge(f"the request head is over {MAX_HEAD_BYTES} bytes",
                        hint="send fewer or shorter headers; put large data in the body")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        # uvicorn closes after an answer sent with the body unread (e.g. a 413 on `Connection: close`).
        self._conn = LingeringTransport(transport, self.loop, self._body_unread)
        super().connection_made(self._conn)  # type: ignore[arg-type]  # a Transport for all uvicorn uses
        self._rejection: MlserveError | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads_done = 0  # heads completed on this connection: tells what a chunk of data finished
        self._expect_head()
        self._start_head_timer()  # a connection that sends nothing at all

    def _expect_head(self) -> None:
        self._head_pending = True
        self._head_bytes = 0

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(READ_TIMEOUT, self._head_timed_out)

    def _head_done(self) -> None:
        self._head_pending = False
        self._heads_done += 1
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._start_head_timer()  # a pipelined head waits for the answer before it
        elif self._head_pending and not self.transport.is_closing():
            self._reject(RequestTimeout(
                f"the request head (request line and headers) did not arrive within {READ_TIMEOUT:g}s",
                hint="send the complete request head at once"))

    def _reject(self, err: MlserveError) -> None:
        self._head_done()
        self.logger.warning("rejected a request from %s: %s", self.client, err.message)
        self.transport.write(raw_error(err))
        self._conn.linger()

    def _body_unread(self) -> bool:
        return self.cycle is not None and self.cycle.more_body

    def connection_lost(self, exc) -> None:
        self._head_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._conn.lingering:
            self._conn.discard(data)
            return
        if self.transport.is_closing():
            return
        counting, heads_before = self._head_pending, self._heads_done
        if counting:
            self._start_head_timer()
        super().data_received(data)  # parse errors end in send_400_response
        # Count the chunk only if the head it belongs to is still unfinished: a chunk that completed
        # a head (and maybe its body and the whole request) is not head bytes of the next request.
        if counting and self._heads_done == heads_before and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._reject(_head_too_large())

    def send_400_response(self, msg: str) -> None:
        err = self._rejection or RequestError(
            "the request is not valid HTTP/1.1", hint="check the request line, the headers and their encoding")
        self._reject(err)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_HEAD_BYTES:
            # Raising stops the parser; data_received then calls send_400_response.
            self._rejection = UrlTooLong(f"the URL is over {MAX_HEAD_BYTES} bytes",
                                         hint="send large inputs in the request body, not the query string")
            raise self._rejection

    def on_headers_complete(self) -> None:
        self._head_done()
        # A head that arrived in one piece was never counted in data_received.
        if len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > MAX_HEAD_BYTES:
            self._rejection = _head_too_large()
            raise self._rejection
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._expect_head()  # a keep-alive connection's next request; its timer starts with its first byte


# For uvicorn.Config(http=...): a string, so it survives pickling into worker processes.
PROTOCOL = "mlserve.runtime.protocol:GuardedHttpToolsProtocol"
