"""Server-Sent Events from a predictor's generator (sync or async).

The route's wire (wire.py) frames each item and the end: in mlserve's own format each item
becomes `data: <text or JSON>\\n\\n` and the stream ends with `event: end`, or with `event: error`
carrying `{"error", "request_id", "hint"}`. Items are pulled one at a time (each in a
slot, so streams share the predictor fairly with other requests); the request timeout
applies to the wait for each item. A disconnect, a superseding request or a timeout stops the
pulling and closes the generator, so its `finally` blocks run and no more items are made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mlserve.errors import MlserveError, PredictorError, PredictorTimeout, Superseded
from mlserve.runtime.loader import user_traceback
from mlserve.runtime.runner import DONE, PREDICTOR_EXCEPTIONS, Stream
from mlserve.runtime.sessions import DISCONNECTED, SUPERSEDED, RequestControl
from mlserve.runtime.wire import Wire

log = logging.getLogger("mlserve.runtime")

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell proxies not to buffer the stream
]


async def _watch_disconnect(receive, control: RequestControl) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    control.cancel(DISCONNECTED)


class EventStream:
    """An ASGI response that streams the predictor's `items`; `finish` runs once when the stream is over."""

    def __init__(self, items: Stream, control: RequestControl, timeout: float,
                 finish: Callable[[], None], wire: Wire) -> None:
        self.items, self.control, self.timeout, self.finish = items, control, timeout, finish
        self.wire = wire

    async def __call__(self, scope, receive, send) -> None:
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, self.control))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await self._pump(send)
        finally:
            watcher.cancel()
            await self._close()
            self.finish()

    async def _pump(self, send) -> None:
        control, loop, wire = self.control, asyncio.get_running_loop(), self.wire
        scope = None
        try:
            async with asyncio.timeout(self.timeout) as scope:
                control.attach(scope)
                while not wire.done and (item := await self.items.next()) is not DONE:
                    chunk = wire.event(item)
                    if chunk:  # a wire may hold text back (the start of a possible stop sequence)
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    scope.reschedule(loop.time() + self.timeout)
            tail = wire.end()
        except TimeoutError as e:
            if scope is None or not scope.expired():  # the predictor's own TimeoutError
                tail = self._failure_event(e)
            elif control.reason == DISCONNECTED:
                return
            elif control.reason == SUPERSEDED:
                tail = self._error_event(Superseded("a newer request of this session replaced this stream",
                                                        hint="read the newer request's answer"))
            else:
                tail = self._error_event(PredictorTimeout(
                    f"no item for {self.timeout:g}s (predictor.request_timeout)",
                    hint="raise predictor.request_timeout in cortex.yaml or yield items sooner"))
        except MlserveError as e:
            tail = self._error_event(e)
        except PREDICTOR_EXCEPTIONS as e:
            tail = self._failure_event(e)
        finally:
            control.detach()
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    def _error_event(self, err: MlserveError) -> bytes:
        return self.wire.error_event(err, self.control.request_id)

    def _failure_event(self, exc: BaseException) -> bytes:
        log.error("request %s: the stream raised\n%s", self.control.request_id, user_traceback(exc))
        return self._error_event(PredictorError(
            f"the predictor failed mid-stream; the traceback is in the API's logs (request id "
            f"{self.control.request_id})", hint="see the API's logs (mlserve logs <api>) for the traceback"))

    async def _close(self) -> None:
        try:
            await self.items.close()
        except Exception as e:
            log.warning("request %s: closing the stream raised\n%s", self.control.request_id, user_traceback(e))
