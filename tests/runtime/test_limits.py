"""The Limiter's admission by expected waiting time, in-process (no server, no socket)."""

from __future__ import annotations

import asyncio

import pytest

from mlserve.errors import Overloaded
from mlserve.runtime.limits import Limiter
from mlserve.spec.models import Predictor


def run(coro):
    return asyncio.run(coro)


async def hold_slots(limiter: Limiter, holders: int, waiters: int) -> list[asyncio.Task]:
    """Take `holders` slots and queue `waiters` more acquirers behind them."""
    for _ in range(holders):
        await limiter.acquire()
    tasks = [asyncio.create_task(limiter.acquire()) for _ in range(waiters)]
    await asyncio.sleep(0)  # let them queue
    return tasks


def test_nothing_measured_or_a_free_slot_means_no_wait():
    limiter = Limiter(slots=2, max_in_flight=100, max_wait=1.0)
    assert limiter.expected_wait() == 0.0
    limiter.service.observe(5.0)
    assert limiter.expected_wait() == 0.0  # two free slots
    limiter.admit()
    assert limiter.in_flight == 1


@pytest.mark.parametrize("service", [0.1, 0.16])  # 100 ms, and the same model slowed on a busy machine
def test_eight_clients_are_admitted_by_the_default_budget(service):
    default = Predictor(path="p.py").max_queue_wait

    async def scenario():
        limiter = Limiter(slots=1, max_in_flight=1024, max_wait=default)
        limiter.service.observe(service)
        tasks = await hold_slots(limiter, holders=1, waiters=6)  # 7 of 8 clients in
        wait = limiter.expected_wait()
        limiter.admit()  # the 8th
        for task in tasks:
            task.cancel()
        return wait
    assert run(scenario()) == pytest.approx(7 * service)


def test_a_microsecond_predictor_admits_a_long_queue():
    async def scenario():
        limiter = Limiter(slots=1, max_in_flight=1024, max_wait=1.0)
        limiter.service.observe(0.0004)
        tasks = await hold_slots(limiter, holders=1, waiters=500)
        limiter.admit()
        for task in tasks:
            task.cancel()
    run(scenario())


def test_a_wait_over_the_budget_is_refused_with_an_honest_retry_after():
    async def scenario():
        limiter = Limiter(slots=2, max_in_flight=1024, max_wait=1.0)
        limiter.service.observe(0.5)
        tasks = await hold_slots(limiter, holders=2, waiters=5)  # (5 + 1) x 0.5 / 2 = 1.5 s
        with pytest.raises(Overloaded) as refused:
            limiter.admit()
        for task in tasks:
            task.cancel()
        return refused.value, limiter.in_flight
    error, in_flight = run(scenario())
    assert error.retry_after == 2
    assert "1.50s of work" in error.message and "max_queue_wait: 1s" in error.message
    assert error.hint
    assert in_flight == 0


def test_batches_ahead_count_in_whole_batches():
    limiter = Limiter(slots=1, max_in_flight=1024, max_wait=1.0, batch_size=8)
    limiter.service.observe(0.3)
    limiter.batch_enter(7)
    assert limiter.expected_wait() == 0.0  # joins the batch forming on a free slot
    limiter.free = 0
    assert limiter.expected_wait() == pytest.approx(0.3)  # the running batch first
    limiter.batch_enter(17)
    assert limiter.expected_wait() == pytest.approx(1.2)
    with pytest.raises(Overloaded):
        limiter.admit()


def test_max_queue_length_stays_a_hard_cap():
    async def scenario():
        limiter = Limiter(slots=1, max_in_flight=1024, max_wait=3600, max_queue=2)
        tasks = await hold_slots(limiter, holders=1, waiters=2)
        with pytest.raises(Overloaded, match="2 requests are already queued"):
            limiter.admit()
        for task in tasks:
            task.cancel()
    run(scenario())


def test_max_in_flight_is_refused_first():
    limiter = Limiter(slots=1, max_in_flight=1, max_wait=1.0)
    limiter.admit()
    with pytest.raises(Overloaded, match="max_replica_concurrency"):
        limiter.admit()
    limiter.leave()
    limiter.admit()


def test_a_waiter_cancelled_and_passed_over_by_a_release_leaves_quietly():
    """A superseded request waiting for a slot is cancelled; a release before it resumes pops its
    cancelled future and gives the slot on. The waiter must then just end (it was a 500)."""
    async def scenario():
        limiter = Limiter(slots=1, max_in_flight=100, max_wait=60)
        await limiter.acquire()
        waiting = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)  # it waits for the slot now
        waiting.cancel()
        limiter.release()  # before the cancelled waiter resumes: its future is popped
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return limiter.free
    assert asyncio.run(scenario()) == 1
