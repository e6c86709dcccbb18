"""Admission control and the slots that run predictor code.

`Limiter.admit` turns a request away (503) when too many are in flight, or when the wait it would
face in the queue exceeds `predictor.max_queue_wait`. The wait is estimated as the work queued
ahead of it times the recent service time per slot: a count of waiting requests cannot tell a
0.4 ms predictor from a 400 ms one, a waiting time can (CoDel's idea: bound the sojourn time).
An explicit `max_queue_length` remains as a hard cap on the count.

A slot is one of `threads_per_process` units of predictor work (a call, a batch, one streamed
item), taken and given back by the Runner (runner.py), the one caller of predictor code.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from mlserve.errors import Overloaded

# Weight of the newest sample in the service-time average: about the last ten calls count.
SERVICE_TIME_WEIGHT = 0.2


class ServiceTime:
    """Exponentially weighted mean of how long one unit of slot work takes (None until measured)."""

    def __init__(self) -> None:
        self.mean: float | None = None

    def observe(self, seconds: float) -> None:
        self.mean = seconds if self.mean is None else self.mean + SERVICE_TIME_WEIGHT * (seconds - self.mean)


class Limiter:
    def __init__(self, slots: int, max_in_flight: int, max_wait: float, max_queue: int | None = None,
                 batch_size: int = 0) -> None:
        self.slots = self.free = slots
        self.max_in_flight = max_in_flight
        self.max_wait = max_wait
        self.batch_size = batch_size  # 0: no server-side batching
        # With batching every request waits for its batch to form: the hard cap holds one
        # forming batch plus `max_queue` more.
        self.max_queue = None if max_queue is None else max_queue + batch_size
        self.service = ServiceTime()
        self.in_flight = 0
        self._batch_waiting = 0  # requests handed to the Batcher and not yet in a batch
        self._waiters: deque[asyncio.Future] = deque()

    @property
    def batch_waiting(self) -> int:
        return self._batch_waiting

    def batch_enter(self, n: int = 1) -> None:
        """`n` admitted requests now wait for a batch to form (the Batcher's queue)."""
        self._batch_waiting += n

    def batch_leave(self, n: int = 1) -> None:
        """`n` requests left the Batcher's queue (into a batch, or dropped at shutdown)."""
        self._batch_waiting -= n

    @property
    def queued(self) -> int:
        return len(self._waiters) + self._batch_waiting

    def expected_wait(self) -> float:
        """Seconds a request admitted now would wait before its predictor work starts."""
        service = self.service.mean
        if service is None:
            return 0.0  # nothing measured yet: max_in_flight (and max_queue_length) still bound it
        if self.batch_size:  # the batches formed ahead of it, plus the one running if no slot is free
            ahead = self._batch_waiting // self.batch_size + (0 if self.free else 1)
        elif self.free and not self._waiters:
            return 0.0
        else:  # every admitted request not in a slot (waiting, or about to) and then this one need a slot
            ahead = max(len(self._waiters), self.in_flight - (self.slots - self.free)) + 1
        return ahead * service / self.slots

    def admit(self) -> None:
        wait = self.expected_wait()
        retry_after = max(1, math.ceil(wait))
        if self.in_flight >= self.max_in_flight:
            raise Overloaded(
                f"{self.in_flight} requests are in flight, the most this process takes "
                "(autoscaling.max_replica_concurrency)", retry_after=retry_after,
                hint="retry after the Retry-After delay")
        if self.max_queue is not None and self.queued >= self.max_queue and (self.batch_size or self.free == 0):
            raise Overloaded(
                f"{self.queued} requests are already queued (predictor.max_queue_length)",
                retry_after=retry_after, hint="retry after the Retry-After delay")
        if wait > self.max_wait:
            raise Overloaded(
                f"the queue holds about {wait:.2f}s of work, more than this API lets a request wait "
                f"(predictor.max_queue_wait: {self.max_wait:g}s)", retry_after=retry_after,
                hint="retry after the Retry-After delay, or add replicas or threads")
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
            elif waiter in self._waiters:  # a release may have popped it already (passing it over)
                self._waiters.remove(waiter)
            raise

    def release(self, busy: float | None = None) -> None:
        """Free a slot held for `busy` seconds of predictor work (None: not a measured call)."""
        if busy is not None:
            self.service.observe(busy)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
