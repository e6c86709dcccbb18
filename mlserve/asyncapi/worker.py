"""An AsyncAPI worker: `python -m mlserve.asyncapi.worker --spec cortex.yaml --api NAME`.

It loads the predictor through the runtime (PredictorHost + DataPlane: the Runner alone calls user
code), then, one item at a time: lease it, mark its record in_progress, run it while renewing the
lease, write the record (completed or failed), call the webhook, acknowledge. Delivery is at least
once, so every step is safe to repeat: an item whose record is already finished is only acknowledged
(it completes once), and an item delivered more than `queue.max_attempts` times (its workers kept
dying) is recorded as failed and dead-lettered.

Exit codes: 0 stopped, 2 bad arguments or spec, 3 the predictor failed to load (as the runtime's).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from mlserve.asyncapi.entry import open_api, parser
from mlserve.asyncapi.outcome import Capture, drain, from_response, from_stream, joined
from mlserve.asyncapi.records import Envelope, State, error_of, new_record
from mlserve.asyncapi.webhook import deliver
from mlserve.contract import env
from mlserve.contract.metrics import ASYNC_PROCESSING
from mlserve.errors import LeaseLost, MlserveError, QueueError
from mlserve.queues import Lease, ResultStore, WorkQueue
from mlserve.runtime.dataplane import DataPlane
from mlserve.runtime.host import PredictorHost
from mlserve.runtime.metrics import LATENCY_BUCKETS, Metrics
from mlserve.runtime.streaming import EventStream
from mlserve.spec import AsyncAPISpec

log = logging.getLogger("mlserve.asyncapi")
EXIT_PREDICTOR = 3
LEASE_WAIT_S = 1.0  # how long one lease call waits for an item (then the stop flag is checked again)


class Worker:
    def __init__(self, root: Path, api: AsyncAPISpec, queue: WorkQueue, results: ResultStore) -> None:
        self.api, self.queue, self.results = api, queue, results
        self.settings = api.queue
        metrics = Metrics(api.name)
        self.plane = DataPlane(PredictorHost(root, api, on_init_failure=_exit_on_init_failure), metrics)
        from prometheus_client import Histogram  # in the launcher's metrics folder, when it set one

        self.processing = Histogram(ASYNC_PROCESSING, "Seconds from an item's lease to its record.", ["api"],
                                    buckets=LATENCY_BUCKETS + (120, 300, 600, 1800),
                                    registry=metrics.registry).labels(api.name)
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        self.plane.start()
        while not self.plane.host.ready:
            await asyncio.sleep(0.05)  # a failed load exits the process (on_init_failure)
        _mark_ready()
        log.info("api %s: worker ready (pid %d)", self.api.name, os.getpid())
        parent = os.getppid()
        while not self.stopping.is_set() and os.getppid() == parent:  # orphaned: the launcher died
            lease = await asyncio.to_thread(self.queue.lease, self.settings.visibility_timeout, LEASE_WAIT_S)
            if lease is not None:
                await self.handle(lease)
        await self.plane.stop()

    async def handle(self, lease: Lease) -> None:
        started = time.monotonic()
        record = self.results.get(lease.item_id) or new_record(lease.item_id)  # expired while queued
        if State(record["status"]).done:
            self._ack(lease)  # finished before a crash that came between the record and the ack
            return
        if lease.attempt > self.settings.max_attempts:
            self._give_up(lease, record)
            return
        record.update(status=State.IN_PROGRESS, started=time.time(), attempts=lease.attempt)
        self.results.put(lease.item_id, record)
        renewing = asyncio.get_running_loop().create_task(self._renew(lease))
        try:
            record.update(await self._predict(lease, record), finished=time.time())
            self.results.put(lease.item_id, record)
            if self.api.webhook is not None:
                record["webhook"] = await asyncio.to_thread(deliver, self.api.webhook, record)
                self.results.put(lease.item_id, record)
        finally:
            renewing.cancel()
        self._ack(lease)
        self.processing.observe(time.monotonic() - started)

    async def _predict(self, lease: Lease, record: dict) -> dict:
        envelope = Envelope.loads(lease.body)
        capture = Capture(self.settings.partial_interval is not None, self._partial(lease.item_id, record))
        answer = await self.plane.handle(envelope.body, envelope.headers, envelope.query, lease.item_id, capture)
        if isinstance(answer, EventStream):
            await drain(answer)
            return from_stream(capture, answer.items.result, lease.item_id)
        return from_response(answer, lease.item_id)

    def _partial(self, item_id: str, record: dict):
        """A streaming predictor's output so far, written to the record at most every partial_interval."""
        interval, last = self.settings.partial_interval, [0.0]

        def on_item(items: list) -> None:
            if interval is not None and time.monotonic() - last[0] >= interval:
                last[0] = time.monotonic()
                self.results.put(item_id, {**record, "partial": joined(items)})
        return on_item

    async def _renew(self, lease: Lease) -> None:
        every = self.settings.visibility_timeout / 3
        while True:
            await asyncio.sleep(every)
            try:
                self.queue.renew(lease, self.settings.visibility_timeout)
            except QueueError as e:  # the item may be run again elsewhere; its record is written once more
                log.warning("item %s: %s", lease.item_id, e)
                return

    def _give_up(self, lease: Lease, record: dict) -> None:
        runs = lease.attempt - 1
        reason = (f"the item was started {runs} times and its worker stopped each time before finishing "
                  "(killed, out of memory, or the machine restarted)")
        hint = f"see `mlserve logs {self.api.name}`; queue.max_attempts ({self.settings.max_attempts}) bounds the tries"
        record.update(status=State.FAILED, finished=time.time(), attempts=runs,
                      error=error_of(MlserveError(reason), lease.item_id, hint))
        self.results.put(lease.item_id, record)
        self.queue.dead_letter(lease, reason)

    def _ack(self, lease: Lease) -> None:
        try:
            self.queue.ack(lease)
        except LeaseLost as e:  # another worker holds it now; it will find the record finished
            log.warning("item %s: %s", lease.item_id, e)


def _mark_ready() -> None:
    folder = os.environ.get(env.ASYNC_READY_DIR)
    if folder:
        (Path(folder) / str(os.getpid())).touch()


def _exit_on_init_failure(_error: MlserveError) -> None:
    for stream in (sys.stderr, sys.stdout):
        stream.flush()
    os._exit(EXIT_PREDICTOR)


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m mlserve.asyncapi.worker", "Run one AsyncAPI's queued items through its predictor.")
    project, api, queue, results = open_api(p, p.parse_args(argv))
    if api.compute.gpu == 0:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ.update(api.predictor.env)
    os.chdir(project.root)  # as the runtime: predictors run from the project folder
    worker = Worker(project.root, api, queue, results)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stopping.set)  # the item in hand finishes first
        await worker.run()
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
