"""The data plane: one prediction from its body to its answer, knowing nothing of ASGI.

`DataPlane.handle(body, headers, query, request_id, wire)` admits the request, decodes it
(through the route's `wire`, wire.py), claims its session, checks a typed payload, runs the
predictor through the Runner (or the Batcher) under the request timeout, and maps every
failure to an error answer. The answer is the wire's response object, or an EventStream for a
generator; the HTTP adapter (http.py) reads the body before and sends the answer after, and a
test calls `handle` directly, without a server or a socket.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from mlserve.errors import MlserveError, PredictorError, PredictorTimeout, Superseded
from mlserve.runtime import typed
from mlserve.runtime.batching import Batcher
from mlserve.runtime.host import PredictorHost
from mlserve.runtime.limits import Limiter
from mlserve.runtime.loader import Method, PredictorClass, user_traceback
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.multimodel import MultiModel
from mlserve.runtime.payload import http_exception_response
from mlserve.runtime.runner import PREDICTOR_EXCEPTIONS, Runner, is_stream
from mlserve.runtime.sessions import SUPERSEDED, RequestControl, Sessions
from mlserve.runtime.streaming import EventStream
from mlserve.runtime.wire import NATIVE, Wire

log = logging.getLogger("mlserve.runtime")

# What `handle` answers: a response (status, headers, body) or a stream of Server-Sent Events.
Answer = Response | EventStream


class DataPlane:
    """One API's request path: limits, sessions, the Runner and the Batcher over a PredictorHost."""

    def __init__(self, host: PredictorHost, metrics: Metrics, processes: int = 1) -> None:
        self.host, self.metrics = host, metrics
        p = host.api.predictor
        self.timeout = p.request_timeout
        self.max_body = p.max_body_bytes
        # max_replica_concurrency is per replica; each worker process takes its share.
        self.limiter = Limiter(
            slots=p.threads_per_process,
            max_in_flight=math.ceil(host.api.autoscaling.max_replica_concurrency / processes),
            max_wait=p.max_queue_wait, max_queue=p.max_queue_length,
            batch_size=p.server_side_batching.max_batch_size if p.server_side_batching else 0)
        self.sessions = Sessions()
        self.runner = Runner(self.limiter, p.threads_per_process)
        self.batcher: Batcher | None = None
        self._predict: Method | None = None  # the predictor's predict, which the Batcher runs
        self.models = MultiModel(host.api, host.root, self.runner, metrics.registry) \
            if p.multi_model_reloading is not None else None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the predictor, in the background: `handle` answers 503 until it is ready."""
        if self.models is None:
            self.host.start(self._bind)
        else:
            self.host.start(self._bind, prepare=self.models.watcher.first, python_client=self.models.client,
                            warm=self._warm_models)

    def _warm_models(self, instance: Any) -> None:
        """In the loading thread, before readiness: load_model needs the instance bound."""
        assert self.models is not None
        self.runner.bind(instance)
        self.models.watcher.preload()

    def _bind(self, predictor: PredictorClass, instance: Any) -> None:
        self.runner.bind(instance)
        self._predict = predictor.predict
        batching = self.host.api.predictor.server_side_batching
        if batching is not None:
            self.batcher = Batcher(self.runner, self.limiter, self.metrics, predictor.predict,
                                   batching.max_batch_size, batching.batch_interval, self.timeout)
            self.batcher.start(self.host.api.predictor.threads_per_process)
        if self.models is not None:
            self.models.watcher.start()

    async def stop(self) -> None:
        if self.models is not None:
            self.models.watcher.stop()
        if self.batcher is not None:
            await self.batcher.stop()
        self.runner.shutdown()

    # -- requests --------------------------------------------------------------------------

    def refusal(self, request_id: str, wire: Wire = NATIVE) -> Answer | None:
        """The 503 while the predictor is not ready, else None: lets the adapter answer before reading the body."""
        if self.host.ready:
            return None
        reason = self.host.unready()
        return None if reason is None else wire.error(reason, request_id)

    async def handle(self, body: bytes, headers: dict[str, str], query: dict[str, str], request_id: str,
                     wire: Wire = NATIVE) -> Answer:
        """Answer one prediction whose body has arrived. `wire` translates a protocol's request into
        the predictor's payload and the result back (wire.py). A multi-model API's request holds the
        models it got until its answer is over (a stream's: until its end), counted per model."""
        if self.models is None:
            return await self._answer(body, headers, query, request_id, wire)
        models = self.models
        lease, started = models.open()
        answer = await self._answer(body, headers, query, request_id, wire)
        if isinstance(answer, EventStream):
            finish = answer.finish

            def finish_and_unpin() -> None:
                finish()
                models.close(lease, started, 200)
            answer.finish = finish_and_unpin
        else:
            models.close(lease, started, answer.status_code)
        return answer

    async def _answer(self, body: bytes, headers: dict[str, str], query: dict[str, str], request_id: str,
                      wire: Wire) -> Answer:
        refused = self.refusal(request_id, wire)
        if refused is not None:
            return refused
        try:
            self.limiter.admit()
        except MlserveError as e:
            return wire.error(e, request_id)
        control = RequestControl(request_id)
        streaming = False
        deadline = None
        try:
            payload, streamed = wire.read(body, headers, self)
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
            if is_stream(result):
                streaming = True
                return EventStream(self.runner.stream(result), control, self.timeout,
                                   lambda: self._finish(control), wire)
            return wire.answer(result)
        except TimeoutError as e:
            if deadline is None or not deadline.expired():  # the predictor's own TimeoutError
                return self._failed(e, request_id, wire)
            control.mark.set()
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
            return http_exception_response(e, request_id)
        except PREDICTOR_EXCEPTIONS as e:
            return self._failed(e, request_id, wire)
        finally:
            if not streaming:
                self._finish(control)

    def _method(self, streamed: bool) -> Method:
        predictor = self.host.predictor
        assert predictor is not None  # handle answers only once the host is ready
        stream = predictor.stream
        return stream if streamed and stream is not None else predictor.predict

    async def _call(self, method: Method, values: dict, control: RequestControl) -> Any:
        if self.batcher is not None and method is self._predict:
            return await self.batcher.submit(values, control.request_id)
        return await self.runner.run(method, method.kwargs(values))

    def _finish(self, control: RequestControl) -> None:
        self.limiter.leave()
        self.sessions.release(control)

    def _failed(self, exc: BaseException, request_id: str, wire: Wire) -> Answer:
        log.error("request %s: predict raised\n%s", request_id, user_traceback(exc),
                  extra={"request_id": request_id, "status": 500})
        return wire.error(PredictorError(
            f"the predictor failed; the traceback is in the API's logs (request id {request_id})",
            hint=f"`mlserve logs {self.host.api.name}` shows it; retrying will not help until the predictor is fixed"),
            request_id)
