"""Server-side batching: requests arriving within `batch_interval` share one `predict` call.

Callers put (values, future) on an asyncio queue and await the future; each of
`threads_per_process` workers takes the first waiting request, then whatever arrives before
the interval ends (event-driven waits, no polling), up to `max_batch_size`. Requests whose
caller has gone (timeout, superseded) are dropped before the call. A wrong-length result,
an exception or a timeout fails every caller of that batch; every caller also waits under
its own request timeout, so nobody waits forever.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mlserve.errors import MlserveError, PredictorError, PredictorTimeout
from mlserve.runtime.limits import Limiter
from mlserve.runtime.loader import Method, user_traceback
from mlserve.runtime.metrics import Metrics
from mlserve.runtime.runner import PREDICTOR_EXCEPTIONS, Runner

log = logging.getLogger("mlserve.runtime")

Item = tuple[dict, asyncio.Future, str]


class Batcher:
    def __init__(self, runner: Runner, limiter: Limiter, metrics: Metrics, method: Method,
                 max_batch_size: int, interval: float, timeout: float) -> None:
        self.runner, self.limiter, self.metrics = runner, limiter, metrics
        self.method = method
        self.max_batch_size, self.interval, self.timeout = max_batch_size, interval, timeout
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.tasks: list[asyncio.Task] = []

    def start(self, workers: int) -> None:
        self.tasks = [asyncio.get_running_loop().create_task(self._work()) for _ in range(workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        while not self.queue.empty():
            _, future, _ = self.queue.get_nowait()
            self.limiter.batch_leave()
            if not future.done():
                future.set_exception(PredictorError("the server shut down before this request ran",
                                                      hint="send the request again once the API is back"))

    async def submit(self, values: dict, request_id: str) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((values, future, request_id))
        self.limiter.batch_enter()
        return await future

    async def _collect(self) -> list[Item]:
        # A cancelled Queue.get leaves its item in the queue, so the timeout loses nothing.
        loop = asyncio.get_running_loop()
        batch = [await self.queue.get()]
        deadline = loop.time() + self.interval
        while len(batch) < self.max_batch_size:
            if self.queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        batch.append(await self.queue.get())
                except TimeoutError:
                    break
            else:
                batch.append(self.queue.get_nowait())
        self.limiter.batch_leave(len(batch))
        return batch

    async def _work(self) -> None:
        while True:
            batch = [item for item in await self._collect() if not item[1].done()]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[Item]) -> None:
        n = len(batch)
        self.metrics.batch_size.observe(n)
        kwargs = {p: [values[p] for values, _, _ in batch] for p in self.method.params}
        ids = ", ".join(rid for _, _, rid in batch)
        try:
            async with asyncio.timeout(self.timeout):
                results = await self.runner.run(self.method, kwargs)
            if not isinstance(results, (list, tuple)) or len(results) != n:
                got = f"{len(results)} results" if isinstance(results, (list, tuple)) \
                    else f"a {type(results).__name__}"
                raise PredictorError(
                    f"predict() returned {got} for a batch of {n}; with server_side_batching it must "
                    "return a list with one result per payload",
                    hint="make predict() return one result for each payload of the list it receives")
        except TimeoutError:
            error: MlserveError = PredictorTimeout(
                f"a batch of {n} took longer than request_timeout ({self.timeout:g}s)",
                hint="raise predictor.request_timeout or lower server_side_batching.max_batch_size")
            log.error("batch of %d timed out (request ids: %s)", n, ids)
        except MlserveError as e:
            error = e
            log.error("batch of %d failed (request ids: %s): %s", n, ids, e)
        except PREDICTOR_EXCEPTIONS as e:
            log.error("predict raised for a batch of %d (request ids: %s)\n%s", n, ids, user_traceback(e))
            error = PredictorError(f"predict() failed for the batch holding this request; "
                                   f"the traceback is in the API's logs (request ids: {ids})",
                                   hint="see the API's logs (mlserve logs <api>) for the traceback")
        else:
            for (_, future, _), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                # An error in a slot (e.g. a RequestError for one bad payload) fails only its request.
                if isinstance(result, MlserveError):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            return
        for _, future, _ in batch:
            if not future.done():
                future.set_exception(error)

