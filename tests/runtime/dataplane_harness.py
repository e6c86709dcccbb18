"""A data plane over a real predictor file, in this process: no server, no socket.

`serving(fixture, ...)` loads a predictor from tests/fixtures/predictors (or a file written by the
test) through the real PredictorHost and yields the DataPlane, checking at the end that every request
gave its admission back; `predict(plane, ...)` hands it a body as the HTTP adapter would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from runtime_harness import FIXTURES

from mlserve.runtime.dataplane import Answer, DataPlane
from mlserve.runtime.host import PredictorHost
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.streaming import EventStream
from mlserve.spec import APISpec

JSON = {"content-type": "application/json"}


@asynccontextmanager
async def serving(fixture: str, root: Path = FIXTURES, ready: bool = True, **predictor) -> AsyncIterator[DataPlane]:
    """The data plane of the API 't' serving `root / fixture`, with more predictor settings."""
    api = APISpec(name="t", predictor={"path": fixture, **predictor})
    plane = DataPlane(PredictorHost(root, api), Metrics("t"))
    plane.start()
    try:
        if ready:
            await until(lambda: plane.host.ready or plane.host.failure is not None)
            assert plane.host.ready, plane.host.failure
        yield plane
        assert plane.limiter.in_flight == 0, "a request's admission was not given back"
    finally:
        await plane.stop()


async def until(condition, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def predict(plane: DataPlane, payload=None, *, body: bytes | None = None, headers: dict | None = None,
                  query: dict | None = None, request_id: str = "r1") -> Answer:
    """One prediction: `payload` sent as JSON, or `body` with `headers`."""
    if body is None:
        body, headers = json.dumps(payload).encode(), {**JSON, **(headers or {})}
    return await plane.handle(body, headers or {}, query or {}, request_id)


def error(answer: Answer, status: int, request_id: str = "r1") -> dict:
    """The error body of `answer`, checked: its status, the one error shape, the request id, a hint."""
    assert not isinstance(answer, EventStream)
    assert answer.status_code == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.body)
    assert set(body) == {"error", "request_id", "hint"} and body["request_id"] == request_id, body
    assert body["hint"], body
    return body


def ok(answer: Answer):
    """The JSON body of a 200 answer."""
    assert not isinstance(answer, EventStream)
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)
