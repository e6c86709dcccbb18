"""The Runner, the one caller of predictor code, in-process: slots, service time, streams, hooks."""

from __future__ import annotations

import asyncio
import threading
import time

from mlserve.runtime.limits import Limiter
from mlserve.runtime.loader import Method
from mlserve.runtime.runner import DONE, Runner


def method(name: str, is_async: bool = False, is_generator: bool = False) -> Method:
    return Method(name=name, params=("payload",), is_async=is_async, is_generator=is_generator)


class Predictor:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.step = threading.Event()  # a sync item waits for it when asked to

    def predict(self, payload):
        time.sleep(payload)
        return threading.current_thread().name

    async def apredict(self, payload):
        await asyncio.sleep(payload)
        return "on the loop"

    def items(self, payload):
        self.log.append("started")
        try:
            for i in range(payload):
                if i == 1 and not self.step.is_set():
                    self.step.wait(5)
                self.log.append(f"item {i}")
                yield i
        finally:
            self.log.append("closed")

    async def aitems(self, payload):
        try:
            for i in range(payload):
                yield i
        finally:
            self.log.append("closed")

    def openai_payload(self, request):
        return {"text": request}


def runner_over(predictor: Predictor, slots: int = 1) -> tuple[Runner, Limiter]:
    limiter = Limiter(slots=slots, max_in_flight=10, max_wait=1.0)
    runner = Runner(limiter, threads=slots)
    runner.bind(predictor)
    return runner, limiter


def test_sync_methods_run_in_the_pool_async_ones_on_the_loop_and_both_are_measured():
    async def scenario():
        runner, limiter = runner_over(Predictor())
        try:
            thread = await runner.run(method("predict"), {"payload": 0.05})
            first = limiter.service.mean
            on_loop = await runner.run(method("apredict", is_async=True), {"payload": 0.05})
            return thread, first, on_loop, limiter.service.mean, limiter.free
        finally:
            runner.shutdown()
    thread, first, on_loop, second, free = asyncio.run(scenario())
    assert thread.startswith("predict") and on_loop == "on the loop"
    assert first >= 0.05 and second >= 0.05 and free == 1


def test_an_abandoned_sync_call_keeps_its_slot_until_its_thread_is_done():
    async def scenario():
        runner, limiter = runner_over(Predictor())
        try:
            try:
                async with asyncio.timeout(0.05):
                    await runner.run(method("predict"), {"payload": 0.3})
            except TimeoutError:
                pass
            held = limiter.free
            while limiter.free == 0:
                await asyncio.sleep(0.01)
            return held, limiter.service.mean
        finally:
            runner.shutdown()
    held, measured = asyncio.run(scenario())
    assert held == 0 and measured >= 0.3


def test_a_generator_runs_no_user_code_until_pulled_and_each_item_takes_a_slot():
    predictor = Predictor()

    async def scenario():
        runner, limiter = runner_over(predictor)
        try:
            gen = await runner.run(method("items", is_generator=True), {"payload": 3})
            assert predictor.log == []  # made, not started
            stream = runner.stream(gen)
            first = await stream.next()
            pulling = asyncio.ensure_future(stream.next())  # waits in user code, in the one slot
            while limiter.free:
                await asyncio.sleep(0.001)
            queued = asyncio.ensure_future(runner.run(method("predict"), {"payload": 0}))
            await asyncio.sleep(0.05)
            assert not queued.done()  # the item holds the slot
            predictor.step.set()
            second, third, done = await pulling, await stream.next(), await stream.next()
            await queued
            return first, second, third, done
        finally:
            runner.shutdown()
    assert asyncio.run(scenario()) == (0, 1, 2, DONE)
    assert predictor.log == ["started", "item 0", "item 1", "item 2", "closed"]


def test_closing_a_stream_runs_the_generators_finally():
    predictor = Predictor()

    async def scenario():
        runner, _ = runner_over(predictor)
        try:
            for name, is_async in (("items", False), ("aitems", True)):
                stream = runner.stream(await runner.run(method(name, is_async, True), {"payload": 10}))
                assert await stream.next() == 0
                await stream.close()
            while predictor.log.count("closed") < 2:  # a sync generator closes in the pool
                await asyncio.sleep(0.01)
        finally:
            runner.shutdown()
    asyncio.run(scenario())
    assert "item 1" not in predictor.log


def test_hooks_are_the_instances_translation_methods():
    async def scenario():
        runner, _ = runner_over(Predictor())
        runner.shutdown()
        return runner.translate("openai_payload", "hi"), runner.hook("chat_prompt")
    assert asyncio.run(scenario()) == ({"text": "hi"}, None)
