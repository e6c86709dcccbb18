"""Nothing queued is lost: a worker SIGKILLed mid-item, the whole API process SIGKILLed with 100 items queued."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx


def _marks(path: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_worker_killed_mid_item_completes_it_once_on_a_retry(launch, tmp_path):
    api = launch({"name": "jobs", "class_name": "Jobs", "queue": {"visibility_timeout": "2s"}})
    mark, hold = tmp_path / "marks", tmp_path / "hold"
    hold.touch()  # the first run is still going when its worker is killed; the retry runs through
    item = api.submit({"n": 1, "hold": str(hold), "mark": str(mark)})
    (pid, _), = _wait_for(lambda: _marks(mark))
    os.kill(pid, signal.SIGKILL)
    hold.unlink()
    done = api.wait(item)
    assert done["status"] == "completed" and done["attempts"] == 2
    assert done["result"]["pid"] != pid
    assert [p for p, _ in _marks(mark)][0] == pid and len(_marks(mark)) == 2
    assert (tmp_path / "jobs.log").read_text().splitlines() == ["done 1"]  # ran to its end once


def test_an_item_whose_workers_keep_dying_fails_with_the_reason(launch, tmp_path):
    api = launch({"name": "jobs", "class_name": "Jobs", "queue": {"visibility_timeout": "1s", "max_attempts": 1}})
    mark = tmp_path / "marks"
    item = api.submit({"n": 1, "sleep": 30, "mark": str(mark)})
    (pid, _), = _wait_for(lambda: _marks(mark))
    os.kill(pid, signal.SIGKILL)
    done = api.wait(item)
    assert done["status"] == "failed" and "stopped each time before finishing" in done["error"]["error"]
    assert done["error"]["hint"] and done["error"]["request_id"] == item
    metrics = httpx.get(f"{api.url}/metrics", timeout=5).text
    assert 'mlserve_async_dead_items{api="jobs"} 1.0' in metrics


def test_the_api_process_killed_with_100_items_queued_completes_all_100_after_the_restart(launch, tmp_path):
    api = launch({"name": "jobs", "class_name": "Jobs", "queue": {"visibility_timeout": "2s"}})
    # The first item holds the one worker, so the other 99 are still waiting when the process dies.
    hold = tmp_path / "hold"
    hold.touch()
    items = {api.submit({"n": n, "hold": str(hold)} if n == 0 else {"n": n}): n for n in range(100)}
    # The worker takes the first item when it gets to it, which may be after the last submission.
    def first_taken() -> str | None:
        text = httpx.get(f"{api.url}/metrics", timeout=5).text
        return text if 'mlserve_async_in_progress{api="jobs"} 1.0' in text else None
    metrics = _wait_for(first_taken)
    assert 'mlserve_async_queue_length{api="jobs"} 99.0' in metrics
    assert 'mlserve_async_in_progress{api="jobs"} 1.0' in metrics
    api.kill()  # launcher and workers at once (as the supervisor kills the group)
    hold.unlink()
    api.start()
    records = {item: api.wait(item) for item in items}
    assert {r["status"] for r in records.values()} == {"completed"}
    assert sorted(r["result"]["n"] for r in records.values()) == list(range(100))
    done = (tmp_path / "jobs.log").read_text().splitlines()
    assert sorted(done) == sorted(f"done {n}" for n in range(100))  # each ran to its end exactly once
