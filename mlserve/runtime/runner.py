"""The one caller of user code: every call into the predictor instance goes through a `Runner`.

Predictor work runs in one of `threads_per_process` slots (limits.py): `async def` methods on the
event loop, plain ones in the thread pool. A call (`run`), a batch (the Batcher calls `run` with
lists) and each item a stream pulls (`Stream.next`) are one slot's work. A sync call that its
caller abandoned (timeout, superseded) keeps its slot until the thread really finishes, so the pool
is never oversubscribed. Translation hooks (`openai_payload`, `chat_prompt`...) are cheap and run
on the event loop without a slot (`hook`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlserve.runtime.limits import Limiter
from mlserve.runtime.loader import Method

# What predictor code may raise that must become a 500 and never stop the server: sys.exit()
# and a stray KeyboardInterrupt included (uvicorn handles the real signals itself).
PREDICTOR_EXCEPTIONS = (Exception, SystemExit, KeyboardInterrupt)

DONE = object()  # Stream.next's answer once the generator is exhausted


def _step(stream: Stream) -> Any:
    with stream.lock:
        try:
            return next(stream.gen)
        except StopIteration as end:  # a generator's `return value`: the whole result (an AsyncAPI keeps it)
            stream.result = end.value
            return DONE


def _close(gen, lock: threading.Lock) -> None:
    with lock:  # waits for a step still running in another thread
        gen.close()


async def _anext(gen) -> Any:
    try:
        return await gen.__anext__()
    except StopAsyncIteration:
        return DONE


def _release_from_thread(loop: asyncio.AbstractEventLoop, limiter: Limiter, started: float) -> None:
    try:
        loop.call_soon_threadsafe(limiter.release, time.perf_counter() - started)
    except RuntimeError:
        pass  # the server stopped while the abandoned call ran: no slot to give back


def is_stream(result: Any) -> bool:
    """Whether a predictor's answer is a generator to stream (a generator method's, or one it returned)."""
    return inspect.isgenerator(result) or inspect.isasyncgen(result)


class Runner:
    def __init__(self, limiter: Limiter, threads: int) -> None:
        self.limiter = limiter
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="predict")  # threads start on first use
        self.instance: Any = None

    def bind(self, instance: Any) -> None:
        """The predictor instance to call, once it has loaded."""
        self.instance = instance

    async def run(self, method: Method, kwargs: dict[str, Any]) -> Any:
        """Call `method` with `kwargs` in a slot. A generator method's call runs no user code yet: its
        generator comes back at once, for `stream` (the items are pulled in slots)."""
        fn = getattr(self.instance, method.name)
        if method.is_generator:
            return fn(**kwargs)
        return await self._in_slot(fn, method.is_async, kwargs)

    def load_model(self, model_path: str) -> Any:
        """A multi-model predictor's load_model, in the calling thread: the predictor's own (get_model in
        predict) or the model watcher's, never the event loop's (runtime/multimodel/)."""
        if self.instance is None:
            raise RuntimeError("get_model() was called before the predictor finished __init__")
        return self.instance.load_model(model_path=model_path)

    def hook(self, name: str) -> Callable | None:
        """The instance's optional translation hook `name` (to call on the event loop), or None."""
        return getattr(self.instance, name, None)

    def translate(self, name: str, /, *args: Any) -> Any:
        """Call the translation hook `name` (`openai_payload`, `openai_result`) on the event loop, no slot:
        the loader checked that it exists, and it is cheap."""
        return getattr(self.instance, name)(*args)

    def stream(self, gen: Any) -> Stream:
        return Stream(gen, self)

    async def _in_slot(self, fn: Callable, is_async: bool, kwargs: dict[str, Any]) -> Any:
        limiter = self.limiter
        await limiter.acquire()
        started = time.perf_counter()
        if is_async:
            try:
                return await fn(**kwargs)
            finally:
                limiter.release(time.perf_counter() - started)
        try:
            # The request's context goes along: get_model pins models to the request (multimodel/lease.py).
            future = self.executor.submit(contextvars.copy_context().run, functools.partial(fn, **kwargs))
        except BaseException:
            limiter.release()
            raise
        try:
            return await asyncio.wrap_future(future)
        finally:
            if future.done():
                limiter.release(time.perf_counter() - started)
            else:  # abandoned while running: free the slot when the thread is done
                loop = asyncio.get_running_loop()
                future.add_done_callback(lambda _: _release_from_thread(loop, limiter, started))

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class Stream:
    """A predictor's generator (sync or async), pulled one item at a time, each in a slot; `result` is
    what a sync generator returned (`return value` after its last yield), once it is exhausted."""

    __slots__ = ("gen", "runner", "is_async", "lock", "result")

    def __init__(self, gen: Any, runner: Runner) -> None:
        self.gen, self.runner = gen, runner
        self.is_async = hasattr(gen, "__anext__")
        self.lock = threading.Lock()  # a sync generator's step and its close never overlap
        self.result: Any = None  # what a sync generator returned at its end (async ones cannot return one)

    async def next(self) -> Any:
        """The next item, or DONE."""
        if self.is_async:
            return await self.runner._in_slot(_anext, True, {"gen": self.gen})
        return await self.runner._in_slot(_step, False, {"stream": self})

    async def close(self) -> None:
        """Stop the generator so its `finally` blocks run; a sync one closes in the pool, after a step
        still running there."""
        if self.is_async:
            await self.gen.aclose()
        else:
            self.runner.executor.submit(_close, self.gen, self.lock)
