"""An AsyncAPI's gateway: `python -m mlserve.asyncapi.gateway --spec S --api A --host H --port P`.

`POST <endpoint>`: the body is read and decoded as a RealtimeAPI's would be (Content-Type, size
limit, the predictor's typed payload), the record is written (in_queue), the item queued, and
`{"id"}` answered at once; past `autoscaling.max_replica_concurrency` unfinished items, 503 with
Retry-After. `GET <endpoint>/<id>`: the record, or 404. /healthz, /readyz (ready once the predictor
class is imported, for its payload type), /metrics (requests, and the queue at scrape time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlserve.asyncapi.metrics import QueueCollector, render
from mlserve.asyncapi.records import KEPT_HEADERS, Envelope, error_of, load, new_record, stores
from mlserve.contract import env
from mlserve.errors import MlserveError, NotFound, Overloaded, PayloadInvalid, RequestError
from mlserve.queues import ResultStore, WorkQueue
from mlserve.runtime import typed
from mlserve.runtime.identity import instance
from mlserve.runtime.loader import PredictorClass, load_predictor_class, user_traceback
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.payload import decode, error_response, read_body, request_headers
from mlserve.spec import AsyncAPISpec

log = logging.getLogger("mlserve.asyncapi")
EXPIRE_EVERY_S = 60.0  # how often records older than queue.result_ttl are swept
FULL_RETRY_AFTER = 5


class Gateway:
    def __init__(self, root: Path, api: AsyncAPISpec, queue: WorkQueue, results: ResultStore,
                 metrics_dir: str | None = None, on_load_failure: Callable[[], None] | None = None,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.root, self.api, self.queue, self.results = root, api, queue, results
        self.metrics = Metrics(api.name, metrics_dir)
        self.collector = QueueCollector(api.name, queue)
        self.predictor: PredictorClass | None = None
        self.failure: str | None = None
        self.on_load_failure = on_load_failure
        self.workers_ready = ready  # locally: a worker has loaded the predictor (launcher.py)

    def load(self) -> None:
        """Import the predictor class (not its __init__: the workers run it) for its payload type."""
        try:
            self.predictor = load_predictor_class(self.api, self.root)
        except BaseException as e:
            self.failure = str(e)
            log.error("api %s: the predictor failed to import\n%s", self.api.name, user_traceback(e))
            if self.on_load_failure is not None:
                self.on_load_failure()

    def app(self) -> Starlette:
        endpoint = self.api.endpoint.rstrip("/")
        routes = [Route(endpoint or "/", self.submit, methods=["POST"]),
                  Route(f"{endpoint}/{{item_id}}", self.record, methods=["GET"]),
                  Route("/healthz", lambda _: JSONResponse({"ok": True})),
                  Route("/readyz", self.readyz),
                  Route("/metrics", lambda _: Response(*render(self.metrics, self.collector)))]

        async def lifespan(_app):
            threading.Thread(target=self.load, name="predictor-import", daemon=True).start()
            sweeper = asyncio.get_running_loop().create_task(self._expire())
            yield
            sweeper.cancel()
        return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: self._no_route,
                                                                                405: self._no_route})

    async def submit(self, request: Request) -> Response:
        started, request_id = time.perf_counter(), _request_id(request)
        try:
            headers = request_headers(request.scope)
            body = await read_body(request.receive, headers, self.api.predictor.max_body_bytes)
            self._check(body, headers)
            self._admit()
            item_id = uuid.uuid4().hex
            # The record first: a worker that takes the item at once then finds it (and is not overwritten).
            self.results.put(item_id, new_record(item_id))
            kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
            self.queue.put(item_id, Envelope(body, kept, dict(request.query_params)).dumps())
            response: Response = JSONResponse({"id": item_id}, headers={"x-request-id": request_id})
        except MlserveError as e:
            response = error_response(e, request_id)
        self.metrics.observe(response.status_code, time.perf_counter() - started)
        return response

    def _check(self, body: bytes, headers: dict[str, str]) -> None:
        """A malformed submission is refused now, not discovered by a worker later (400 naming the field)."""
        payload = decode(body, headers.get("content-type", ""))
        model = self.predictor.predict.payload_model if self.predictor is not None else None
        if model is not None:
            try:
                typed.validate(model, payload)
            except PayloadInvalid as e:
                raise RequestError(e.message, hint=e.hint) from None

    def _admit(self) -> None:
        if self.predictor is None:
            raise Overloaded("the API is starting" if self.failure is None else "the predictor failed to import",
                             retry_after=2, hint="wait until GET /readyz answers 200")
        counts = self.queue.counts()
        limit = self.api.autoscaling.max_replica_concurrency
        if counts.waiting + counts.in_flight >= limit:
            raise Overloaded(f"{counts.waiting + counts.in_flight} items are waiting or running, the most this API "
                             f"queues (autoscaling.max_replica_concurrency: {limit})", retry_after=FULL_RETRY_AFTER,
                             hint="retry after the Retry-After seconds, or raise max_replica_concurrency")

    async def record(self, request: Request) -> Response:
        item_id, request_id = request.path_params["item_id"], _request_id(request)
        found = self.results.get(item_id)
        if found is None:
            return error_response(NotFound(
                f"no item '{item_id}' at {self.api.endpoint}",
                hint=f"use an id that POST {self.api.endpoint} answered; records are kept for "
                     f"queue.result_ttl ({self.api.queue.result_ttl:g}s)"), request_id)
        return JSONResponse(found)

    async def readyz(self, _request: Request) -> Response:
        if self.predictor is not None and self.workers_ready():
            return JSONResponse({"ready": True, **instance()})
        why = self.failure or ("no worker has loaded the predictor yet" if self.predictor else "importing the predictor")
        return JSONResponse({"ready": False, "error": why}, status_code=503)

    async def _no_route(self, request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        err = NotFound(f"{request.method} {request.url.path} is not a route of this AsyncAPI",
                       hint=f"POST {self.api.endpoint} submits; GET {self.api.endpoint}/<id> reads a record")
        err.http_status = status
        return error_response(err, _request_id(request))

    async def _expire(self) -> None:
        every = min(EXPIRE_EVERY_S, self.api.queue.result_ttl / 2)
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.results.expire, self.api.queue.result_ttl)
            except MlserveError as e:
                log.warning("api %s: expiring old records: %s", self.api.name, e)


def _request_id(request: Request) -> str:
    return request.headers.get("x-request-id") or uuid.uuid4().hex


def serve(gateway: Gateway, host: str, port: int, sock=None) -> None:
    import uvicorn

    config = uvicorn.Config(gateway.app(), host=host, port=port, log_config=None, access_log=False,
                            lifespan="on", server_header=False, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlserve.asyncapi.gateway",
                                     description="Accept and answer one AsyncAPI's submissions over HTTP.")
    parser.add_argument("--spec", default=os.environ.get(env.SPEC), help=f"cortex.yaml [env {env.SPEC}]")
    parser.add_argument("--api", default=os.environ.get(env.API), help=f"the AsyncAPI [env {env.API}]")
    parser.add_argument("--host", default=os.environ.get(env.HOST, "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get(env.PORT, "8080")))
    args = parser.parse_args(argv)
    if not args.spec or not args.api:
        parser.error("--spec and --api are required (or set MLSERVE_SPEC and MLSERVE_API)")
    from mlserve.logs import configure

    configure(args.api)
    try:
        project, api = load(args.spec, args.api)
        queue, results = stores()
    except MlserveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    os.chdir(project.root)
    serve(Gateway(project.root, api, queue, results), args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
