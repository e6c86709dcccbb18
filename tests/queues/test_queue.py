"""The work queue's contract (mlserve/queues/base.py), run against every backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlserve.errors import LeaseLost, QueueError
from mlserve.queues import open_queue, open_results

CONSUMER = Path(__file__).with_name("consume.py")


def test_items_come_out_in_order_once_and_leave_when_acknowledged(urls):
    q = open_queue(urls[0])
    for i in range(3):
        q.put(f"id{i}", f"body{i}".encode())
    q.put("id0", b"again")  # a retried submit is not enqueued twice
    got = [q.lease(visibility_s=60) for _ in range(4)]
    assert [(g.item_id, g.body, g.attempt) for g in got[:3]] == [
        ("id0", b"body0", 1), ("id1", b"body1", 1), ("id2", b"body2", 1)]
    assert got[3] is None
    assert q.counts().in_flight == 3 and q.counts().waiting == 0
    for g in got[:3]:
        q.ack(g)
    counts = q.counts()
    assert (counts.waiting, counts.in_flight, counts.oldest_age_s) == (0, 0, None)


def test_a_lease_that_runs_out_is_delivered_again_and_the_old_holder_loses_it(urls):
    q = open_queue(urls[0])
    q.put("a", b"x")
    first = q.lease(visibility_s=30)
    assert q.lease(visibility_s=60) is None  # hidden while held (30 s: however slowly this line comes)
    q.renew(first, 0.2)  # now it runs out
    second = q.lease(visibility_s=60, wait_s=10)
    assert second is not None and second.item_id == "a" and second.attempt == 2
    with pytest.raises(LeaseLost, match="lease ran out"):
        q.ack(first)
    with pytest.raises(LeaseLost):
        q.renew(first, 60)
    q.ack(second)
    assert q.lease(visibility_s=60) is None


def test_renew_keeps_an_item_hidden_past_its_first_visibility(urls):
    q = open_queue(urls[0])
    q.put("a", b"x")
    # Wall-clock semantics (the queue's and SQS's): each renewal must come within the visibility, so
    # renew every 0.5 s with 2 s of it (1.5 s of slack for a stalled test), 6 times: past the first 2 s.
    held = q.lease(visibility_s=2.0)
    for _ in range(6):
        time.sleep(0.5)
        q.renew(held, 2.0)
        assert q.lease(visibility_s=60) is None
    q.ack(held)


def test_release_gives_the_item_back_after_its_delay(urls):
    q = open_queue(urls[0])
    q.put("a", b"x")
    q.release(q.lease(visibility_s=60), delay_s=0.3)
    again = q.lease(visibility_s=60, wait_s=10)
    assert again is not None and again.attempt == 2


def test_dead_letters_keep_the_item_and_its_error(urls):
    q = open_queue(urls[0])
    q.put("a", b"payload")
    q.put("b", b"fine")
    q.dead_letter(q.lease(visibility_s=60), "worker died 3 times")
    [dead] = q.dead()
    assert (dead.item_id, dead.body, dead.attempts, dead.error) == ("a", b"payload", 1, "worker died 3 times")
    counts = q.counts()
    assert (counts.waiting, counts.dead) == (1, 1)
    # SQS cannot tell the age of a waiting item before CloudWatch publishes it (test_sqs.py)
    assert counts.oldest_age_s is not None or urls[0].startswith("sqs:")
    q.drop()
    assert q.counts().waiting == 0 and q.dead() == []


def test_two_worker_processes_share_a_queue_without_losing_or_repeating_an_item(urls):
    q = open_queue(urls[0])
    ids = [f"item-{i:04d}" for i in range(300)]
    for i in ids:
        q.put(i, b"{}")
    procs = [subprocess.Popen([sys.executable, str(CONSUMER), urls[0]], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    seen = [line.split()[0] for p in procs for line in p.communicate(timeout=120)[0].splitlines()]
    assert sorted(seen) == ids
    assert all(p.returncode == 0 for p in procs)
    assert q.counts().waiting == 0


def test_an_item_whose_worker_is_killed_is_delivered_again(urls):
    q = open_queue(urls[0])
    q.put("a", b"x")
    proc = subprocess.Popen([sys.executable, str(CONSUMER), urls[0], "--hold"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().split() == ["a", "1"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = q.lease(visibility_s=60, wait_s=15)
    assert again is not None and (again.item_id, again.attempt) == ("a", 2)


def test_results_are_kept_until_they_expire(urls):
    store = open_results(urls[1])
    store.put("a", {"status": "in_queue"})
    store.put("a", {"status": "completed", "result": [1, 2]})
    assert store.get("a") == {"status": "completed", "result": [1, 2]}
    assert store.get("missing") is None
    assert store.expire(older_than_s=3600) == 0
    time.sleep(0.05)
    assert store.expire(older_than_s=0.01) == 1
    assert store.get("a") is None


def test_an_unknown_url_or_a_relative_path_is_a_clear_error():
    with pytest.raises(QueueError, match="unknown work queue"):
        open_queue("redis://x")
    with pytest.raises(QueueError, match="not absolute"):
        open_queue("sqlite://relative.db")
