"""The Batcher and Sessions in-process: real asyncio, a real Runner and Limiter, no server or socket."""

from __future__ import annotations

import asyncio
import time

import pytest

from mlserve.errors import PredictorError, PredictorTimeout, RequestError
from mlserve.runtime.batching import Batcher
from mlserve.runtime.limits import Limiter
from mlserve.runtime.loader import Method
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.runner import Runner
from mlserve.runtime.sessions import SUPERSEDED, RequestControl, Sessions

PREDICT = Method(name="predict", params=("payload",), is_async=False, is_generator=False)


class Recorder:
    """A predictor whose batches are recorded; `result` shapes what it returns."""

    def __init__(self, result=None, sleep: float = 0.0) -> None:
        self.batches: list[list] = []
        self.result, self.sleep = result, sleep

    def predict(self, payload):
        self.batches.append(list(payload))
        time.sleep(self.sleep)
        return self.result(payload) if self.result else [{"echo": p} for p in payload]


async def batched(predictor: Recorder, payloads: list, *, size: int = 4, interval: float = 0.05,
                  timeout: float = 5.0, drop: int | None = None) -> list:
    """Submit `payloads` at once to a Batcher over `predictor`; each outcome (result or error)."""
    limiter = Limiter(slots=1, max_in_flight=100, max_wait=60, batch_size=size)
    runner = Runner(limiter, threads=1)
    runner.bind(predictor)
    batcher = Batcher(runner, limiter, Metrics("t"), PREDICT, size, interval, timeout)
    batcher.start(1)
    try:
        calls = [asyncio.ensure_future(batcher.submit({"payload": p}, f"r{i}")) for i, p in enumerate(payloads)]
        if drop is not None:  # its caller goes (timeout, superseded) while the batch is still forming
            await asyncio.sleep(interval / 10)
            calls[drop].cancel()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert limiter.batch_waiting == 0  # the Limiter's own count of requests waiting for a batch
        deadline = time.monotonic() + 5
        while limiter.free < 1:  # an abandoned call keeps its slot until its thread is done
            assert time.monotonic() < deadline, "the slot was never given back"
            await asyncio.sleep(0.01)
        return outcomes
    finally:
        await batcher.stop()
        runner.shutdown()


def test_requests_arriving_together_share_batches_of_at_most_max_batch_size():
    predictor = Recorder()
    outcomes = asyncio.run(batched(predictor, list(range(6)), size=4))
    assert outcomes == [{"echo": i} for i in range(6)]
    assert predictor.batches == [[0, 1, 2, 3], [4, 5]]


def test_a_request_whose_caller_has_gone_is_left_out_of_its_batch():
    predictor = Recorder()
    outcomes = asyncio.run(batched(predictor, ["a", "b", "c"], interval=1.0, drop=1))
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert predictor.batches == [["a", "c"]]


def test_a_wrong_length_result_fails_every_caller_of_the_batch_with_the_reason():
    outcomes = asyncio.run(batched(Recorder(result=lambda payload: ["only one"]), ["a", "b"]))
    assert all(isinstance(o, PredictorError) for o in outcomes)
    assert "returned 1 results for a batch of 2" in outcomes[0].message


def test_an_error_in_one_slot_fails_only_that_request():
    def one_bad(payload):
        return [RequestError("'b' is not allowed", hint="send another") if p == "b" else p for p in payload]
    outcomes = asyncio.run(batched(Recorder(result=one_bad), ["a", "b", "c"]))
    assert outcomes[0] == "a" and outcomes[2] == "c"
    assert isinstance(outcomes[1], RequestError) and outcomes[1].message == "'b' is not allowed"


def test_a_predictor_that_raises_fails_the_batch_without_leaking_the_exception():
    def boom(payload):
        raise ValueError("secret detail")
    outcomes = asyncio.run(batched(Recorder(result=boom), ["a", "b"]))
    assert all(isinstance(o, PredictorError) for o in outcomes)
    assert "secret detail" not in outcomes[0].message and "r0, r1" in outcomes[0].message


def test_a_batch_slower_than_the_request_timeout_fails_with_a_timeout():
    outcomes = asyncio.run(batched(Recorder(sleep=0.5), ["a"], timeout=0.1))
    assert isinstance(outcomes[0], PredictorTimeout)
    assert "request_timeout (0.1s)" in outcomes[0].message and outcomes[0].hint


def test_a_newer_request_of_a_session_cancels_the_older_one():
    async def scenario():
        sessions = Sessions()
        old, new = RequestControl("r1"), RequestControl("r2")
        sessions.claim("typing", old)
        started = time.monotonic()
        with pytest.raises(TimeoutError):  # the old request's own scope expires: the one mechanism
            async with asyncio.timeout(60) as scope:
                old.attach(scope)
                sessions.claim("typing", new)
                await asyncio.sleep(5)
        return old.reason, new.reason, time.monotonic() - started

    old_reason, new_reason, took = asyncio.run(scenario())
    assert old_reason == SUPERSEDED and new_reason is None and took < 5


def test_a_cancel_before_the_scope_exists_fires_when_it_is_attached():
    async def scenario():
        control = RequestControl("r1")
        control.cancel(SUPERSEDED)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(60) as scope:
                control.attach(scope)
                await asyncio.sleep(5)
        return control.reason, time.monotonic() - started

    reason, took = asyncio.run(scenario())
    assert reason == SUPERSEDED and took < 5


def test_release_forgets_only_the_current_request_of_a_session():
    sessions = Sessions()
    old, new = RequestControl("r1"), RequestControl("r2")
    sessions.claim("s", old)
    sessions.claim("s", new)
    assert old.reason == SUPERSEDED and new.reason is None
    sessions.release(old)  # the superseded one finishing must not drop the newer claim
    third = RequestControl("r3")
    sessions.claim("s", third)
    assert new.reason == SUPERSEDED
    sessions.release(third)
    fourth = RequestControl("r4")
    sessions.claim("s", fourth)
    assert third.reason is None  # released: nothing left to supersede
