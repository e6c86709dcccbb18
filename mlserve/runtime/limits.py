"""Admission control and the slots that run predictor code.

`Limiter.admit` turns a request away (503) when too many are in flight or waiting; a slot is
one of `threads_per_process` units of predictor work (a call, a batch, one streamed item).
`Runner.call` is the one helper that runs a predictor method: `async def` methods on the
event loop, plain ones in the thread pool. A sync call that its caller abandoned (timeout,
superseded) keeps its slot until the thread really finishes, so the pool is never oversubscribed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlserve.errors import Overloaded

# What predictor code may raise that must become a 500 and never stop the server: sys.exit()
# and a stray KeyboardInterrupt included (uvicorn handles the real signals itself).
PREDICTOR_EXCEPTIONS = (Exception, SystemExit, KeyboardInterrupt)

# The default queue per slot: an accepted request then waits for at most this many predictions
# ahead of it per slot, so its latency stays within ~(QUEUE_PER_SLOT + 1)x a single request's.
QUEUE_PER_SLOT = 2


def queue_length(predictor) -> int:
    """predictor.max_queue_length, or by default QUEUE_PER_SLOT predictions per slot: 2 x
    threads_per_process requests, times max_batch_size with server-side batching."""
    if predictor.max_queue_length is not None:
        return predictor.max_queue_length
    batching = predictor.server_side_batching
    return QUEUE_PER_SLOT * predictor.threads_per_process * (batching.max_batch_size if batching else 1)


class Limiter:
    def __init__(self, slots: int, max_in_flight: int, max_queue: int, batched: bool = False,
                 batch_size: int = 0) -> None:
        self.free = slots
        self.max_in_flight = max_in_flight
        self.batched = batched
        # With batching every request waits for its batch to form: the queue holds one
        # forming batch plus `max_queue` more.
        self.queue_capacity = max_queue + (batch_size if batched else 0)
        self.in_flight = 0
        self.batch_queue: asyncio.Queue | None = None  # set by the Batcher
        self._waiters: deque[asyncio.Future] = deque()

    @property
    def queued(self) -> int:
        batch_queued = self.batch_queue.qsize() if self.batch_queue is not None else 0
        return len(self._waiters) + batch_queued

    def admit(self) -> None:
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(
                f"{self.in_flight} requests are in flight, the most this process takes "
                "(autoscaling.max_replica_concurrency)", hint="retry after the Retry-After delay")
        if self.queued >= self.queue_capacity and (self.batched or self.free == 0):
            raise Overloaded(
                f"{self.queued} requests are already queued (predictor.max_queue_length)",
                hint="retry after the Retry-After delay")
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1

    async def acquire(self) -> None:
        if self.free and not self._waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted and cancelled at once: pass the slot on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Runner:
    def __init__(self, limiter: Limiter, threads: int) -> None:
        self.limiter = limiter
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="predict")
        self.loop = asyncio.get_running_loop()

    async def call(self, fn: Callable, is_async: bool, /, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` in a slot: awaited if `is_async`, else in the thread pool."""
        limiter = self.limiter
        await limiter.acquire()
        if is_async:
            try:
                return await fn(*args, **kwargs)
            finally:
                limiter.release()
        try:
            future = self.executor.submit(fn, *args, **kwargs)
        except BaseException:
            limiter.release()
            raise
        try:
            return await asyncio.wrap_future(future)
        finally:
            if future.done():
                limiter.release()
            else:  # abandoned while running: free the slot when the thread is done
                future.add_done_callback(lambda _: self.loop.call_soon_threadsafe(limiter.release))

    def submit(self, fn: Callable, *args: Any) -> None:
        """Fire-and-forget work in the pool (e.g. closing an abandoned generator)."""
        self.executor.submit(fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
