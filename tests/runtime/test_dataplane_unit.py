"""The data plane in-process: every failure a prediction can meet becomes its one error answer.

Real predictor files loaded by the real PredictorHost, real asyncio, the real Runner and Limiter;
no server and no socket (the HTTP adapter and uvicorn are tested in test_http.py and test_edges.py).
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from dataplane_harness import JSON, error, ok, predict, serving, until
from runtime_harness import read_lines

from mlserve.runtime.streaming import EventStream


def run(coro):
    return asyncio.run(coro)


def echo(do: str, query: dict | None = None, **settings):
    """One answer of the echo fixture doing `do` (more query parameters and predictor settings given)."""
    async def scenario():
        async with serving("echo.py", config={}, **settings) as plane:
            return await predict(plane, {}, query={"do": do, **(query or {})})
    return run(scenario())


@pytest.mark.parametrize("do", ["raise", "exit", "interrupt"])
def test_a_predictor_exception_is_a_500_that_hides_it_and_logs_the_users_traceback(caplog, do):
    async def scenario():
        async with serving("echo.py", config={}) as plane:
            return await predict(plane, {}, query={"do": do}), await predict(plane, {"still": "serving"})
    with caplog.at_level(logging.ERROR, logger="mlserve.runtime"):
        failed, after = run(scenario())
    body = error(failed, 500)
    assert "the predictor failed" in body["error"] and "r1" in body["error"] and "mlserve logs t" in body["hint"]
    assert "secret detail" not in json.dumps(body)
    logged = caplog.text
    assert "request r1: predict raised" in logged and 'echo.py", line' in logged
    assert {"raise": "ValueError: secret detail", "exit": "SystemExit: 3", "interrupt": "KeyboardInterrupt"}[do] in logged
    assert ok(after)["payload"] == {"still": "serving"}  # sys.exit() and Ctrl-C in predict stop nothing


def test_an_http_exception_keeps_its_status_in_the_error_shape():
    body = error(echo("http_exception"), 422)
    assert body == {"error": "not this one", "request_id": "r1", "hint": "see GET /docs for what this API accepts"}


def test_an_mlserve_error_from_the_predictor_keeps_its_status_message_and_hint():
    body = error(echo("request_error"), 400)
    assert body["error"] == "payload needs a 'text' field" and body["hint"] == 'send {"text": "..."}'


def test_a_result_that_cannot_be_json_is_a_logged_500(caplog):
    with caplog.at_level(logging.ERROR, logger="mlserve.runtime"):
        body = error(echo("nan"), 500)
    assert "cannot be sent as JSON" in body["error"] and "request r1: predict() returned a dict" in caplog.text


def test_a_predictor_slower_than_request_timeout_is_504():
    body = error(echo("sleep", {"s": "0.5"}, request_timeout=0.05), 504)
    assert "request_timeout (0.05s)" in body["error"] and "request_timeout" in body["hint"]


def test_the_predictors_own_timeout_error_is_a_500_not_a_504(tmp_path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        raise TimeoutError('db')\n")

    async def scenario():
        async with serving("p.py", root=tmp_path) as plane:
            return await predict(plane, {})
    assert "the predictor failed" in error(run(scenario()), 500)["error"]


def test_a_newer_request_of_the_session_answers_the_running_one_409_and_cancels_it(tmp_path):
    log = tmp_path / "calls.log"

    async def scenario():
        async with serving("async_calls.py", config={"log": str(log)}, threads_per_process=2) as plane:
            old = asyncio.ensure_future(predict(plane, {"id": "old", "sleep": 30}, headers={"x-session-id": "s"},
                                                request_id="old"))
            await until(lambda: read_lines(log) == ["start old"])
            new = await predict(plane, {"id": "new"}, query={"session_id": "s"}, request_id="new")
            return await old, new, plane.metrics.superseded._value.get()
    old, new, superseded = run(scenario())
    body = error(old, 409, "old")
    assert body["error"] == "a newer request of session 's' replaced this one"
    assert ok(new) == {"id": "new"} and superseded == 1
    assert sorted(read_lines(log)) == ["cancelled old", "done new", "start new", "start old"]


def test_a_superseded_request_waiting_for_a_slot_never_reaches_the_predictor(tmp_path):
    log, hold = tmp_path / "calls.log", tmp_path / "hold"
    hold.touch()  # the blocker keeps the one slot until the newer request has replaced the waiting one

    async def scenario():
        async with serving("sync_calls.py", config={"log": str(log)}) as plane:
            blocker = asyncio.ensure_future(predict(plane, {"id": "blocker", "hold": str(hold)}, request_id="b"))
            await until(lambda: read_lines(log) == ["start blocker"])
            old = asyncio.ensure_future(predict(plane, {"id": "old"}, headers={"x-session-id": "s"}, request_id="o"))
            await until(lambda: plane.limiter.in_flight == 2)
            new = asyncio.ensure_future(predict(plane, {"id": "new"}, headers={"x-session-id": "s"}, request_id="n"))
            await until(old.done)
            hold.unlink()
            return await blocker, await old, await new
    blocker, old, new = run(scenario())
    assert ok(blocker) == {"id": "blocker"} and ok(new) == {"id": "new"}
    error(old, 409, "o")
    assert read_lines(log) == ["start blocker", "done blocker", "start new", "done new"]


@pytest.mark.parametrize("fixture, settings, message, retry_after", [
    ("slow_init.py", {"config": {"seconds": 1}}, "the predictor is still loading", "2"),
    ("init_fails.py", {}, "the predictor failed to load", "30"),
])
def test_a_predictor_not_ready_is_503_with_retry_after(fixture, settings, message, retry_after):
    async def scenario():
        async with serving(fixture, ready=False, **settings) as plane:
            if fixture == "init_fails.py":
                await until(lambda: plane.host.failure is not None)
            early = plane.refusal("r1")  # what the HTTP adapter answers before reading the body
            answer = await predict(plane, {})
            return early, answer, plane.host.readiness()
    early, answer, (status, readiness) = run(scenario())
    for refused in (early, answer):
        assert error(refused, 503)["error"] == message and refused.headers["retry-after"] == retry_after
    assert status == 503 and readiness["ready"] is False
    assert ("error" in readiness) == (fixture == "init_fails.py")


def test_more_in_flight_than_max_replica_concurrency_is_503_with_retry_after(tmp_path):
    log = tmp_path / "calls.log"

    async def scenario():
        async with serving("async_calls.py", config={"log": str(log)}, threads_per_process=2) as plane:
            plane.limiter.max_in_flight = 1  # autoscaling.max_replica_concurrency 1
            running = asyncio.ensure_future(predict(plane, {"id": "a", "sleep": 0.2}))
            await until(lambda: read_lines(log) == ["start a"])
            refused = await plane.handle(b'{"id": "b"}', JSON, {}, "r2")
            return await running, refused
    running, refused = run(scenario())
    assert ok(running) == {"id": "a"}
    body = error(refused, 503, "r2")
    assert "max_replica_concurrency" in body["error"] and refused.headers["retry-after"] == "1"
    assert read_lines(log) == ["start a", "done a"]


@pytest.mark.parametrize("body, content_type, message", [
    (b"{not json", "application/json", "the body is not valid JSON"),
    (b"[" * 1000 + b"]" * 1000, "application/json", "nested too deeply"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested too deeply"),
    (b'{"x": NaN}', "application/json", "no NaN or Infinity"),
    (b'{"x": Infinity}', "application/json", "no NaN or Infinity"),
    (b'{"x": -Infinity}', "application/json", "no NaN or Infinity"),
    (b'{"x": 1e400}', "application/json", "overflows to infinity"),
    (b'{"x": -1e400}', "application/json", "overflows to infinity"),
    (b'{"x": [1, 2.5e308]}', "application/json", "overflows to infinity"),
    (b"\xff\xfe", "text/plain; charset=utf-8", "cannot be decoded as utf-8"),
])
def test_a_body_that_does_not_decode_is_400(body, content_type, message):
    async def scenario():
        async with serving("echo.py", config={}) as plane:
            return await predict(plane, body=body, headers={"content-type": content_type})
    assert message in error(run(scenario()), 400)["error"]


@pytest.mark.parametrize("payload, field", [
    ({"customer": "ada", "items": [{"sku": "tea", "quantity": 0}]}, "payload.items[0].quantity"),
    ({"items": [{"quantity": "many"}]}, "payload.customer"),
    ([1, 2], "payload: Input should be an object"),
])
def test_a_typed_payload_that_does_not_match_is_422_and_a_match_arrives_as_the_model(payload, field):
    async def scenario():
        async with serving("typed.py") as plane:
            return (await predict(plane, payload),
                    await predict(plane, {"customer": "ada", "items": [{"sku": "tea", "quantity": 2}]}))
    refused, accepted = run(scenario())
    body = error(refused, 422)
    assert body["error"].startswith("the payload does not match Order: ") and field in body["error"]
    assert ok(accepted) == {"customer": "ada", "units": 2, "payload_type": "Order"}


@pytest.mark.parametrize("content_type, body, expected", [
    ("application/json", b'{"a": [1, 2]}', {"type": "dict", "payload": {"a": [1, 2]}}),
    ("application/json; charset=utf-8", b'"text"', {"type": "str", "payload": "text"}),
    ("application/vnd.api+json", b"[1]", {"type": "list", "payload": [1]}),
    ("text/plain", "h\u00e9llo".encode(), {"type": "str", "payload": "h\u00e9llo"}),
    ("text/plain; charset=latin-1", "h\u00e9llo".encode("latin-1"), {"type": "str", "payload": "h\u00e9llo"}),
    ("application/octet-stream", b"\x00\xff", {"type": "bytes", "payload": "\x00\xff"}),
    ("image/png", b"PNG", {"type": "bytes", "payload": "PNG"}),
    (None, b"raw", {"type": "bytes", "payload": "raw"}),
])
def test_the_payload_type_follows_the_content_type(content_type, body, expected):
    async def scenario():
        async with serving("echo.py", config={}) as plane:
            return await predict(plane, body=body, headers={"content-type": content_type} if content_type else {})
    assert ok(run(scenario())) == expected


def test_return_types_and_injected_parameters():
    async def scenario():
        async with serving("echo.py", config={"greeting": "hi"}) as plane:
            return [await predict(plane, body=b"you", headers={"content-type": "text/plain"}, query={"do": "text"}),
                    *[await predict(plane, {}, query={"do": do}) for do in ("bytes", "response", "none")],
                    await predict(plane, {}, query={"do": "header"}, headers={"x-test": "abc"})]
    text, raw, custom, none, injected = run(scenario())
    assert (text.body, text.headers["content-type"]) == (b"hello you", "text/plain; charset=utf-8")
    assert (raw.body, raw.headers["content-type"]) == (b"\x00\x01raw", "application/octet-stream")
    assert (custom.status_code, custom.body, custom.headers["x-custom"]) == (201, b"custom", "yes")
    assert ok(none) is None
    assert ok(injected) == {"x-test": "abc", "config": {"greeting": "hi"}}


def test_a_generator_answer_is_a_stream_that_holds_its_admission_until_sent():
    async def scenario():
        async with serving("streams.py", class_name="StreamMethod") as plane:
            whole = await predict(plane, {"words": ["a", "b"]})
            streamed = await predict(plane, {"words": ["a", "b"]}, headers={"accept": "text/event-stream"})
            in_flight = plane.limiter.in_flight
            streamed.finish()  # what sending it ends with
            return whole, streamed, in_flight
    whole, streamed, in_flight = run(scenario())
    assert ok(whole) == {"text": "a b"}
    assert isinstance(streamed, EventStream) and in_flight == 1


GIVES_UP = """
import time
from pathlib import Path

from mlserve import abandon


class P:
    def __init__(self, config):
        self.log = Path(config["log"])

    def predict(self, payload):
        given_up = abandon.current()  # the request's mark, seen from the predictor's thread
        with self.log.open("a") as f:
            f.write(f"start {payload['id']}\\n")
        for _ in range(int(payload.get("polls", 0))):
            if given_up():
                with self.log.open("a") as f:
                    f.write(f"given up {payload['id']}\\n")
                return {}
            time.sleep(0.01)
        return {"id": payload["id"], "given_up": given_up()}
"""


@pytest.mark.parametrize("how", ["superseded", "timed out"])
def test_a_predictor_thread_sees_its_request_given_up(tmp_path, how):
    """The runtime cannot stop a sync predict; it marks the request given up (mlserve/abandon.py)
    so a predictor (the llama.cpp decode loop) can stop its work early."""
    (tmp_path / "p.py").write_text(GIVES_UP)
    log = tmp_path / "calls.log"

    async def scenario():
        settings = {"request_timeout": 0.2} if how == "timed out" else {}
        async with serving("p.py", root=tmp_path, config={"log": str(log)}, threads_per_process=2,
                           **settings) as plane:
            old = asyncio.ensure_future(predict(plane, {"id": "old", "polls": 1000}, headers={"x-session-id": "s"},
                                                request_id="old"))
            await until(lambda: read_lines(log) == ["start old"])
            if how == "superseded":
                new = await predict(plane, {"id": "new"}, headers={"x-session-id": "s"}, request_id="new")
                assert ok(new) == {"id": "new", "given_up": False}  # the newer one is not given up
            answer = await old
            await until(lambda: "given up old" in read_lines(log))
            return answer
    error(run(scenario()), 409 if how == "superseded" else 504, "old")
