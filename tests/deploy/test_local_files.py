"""State/log files of the local backend: atomic JSON, capped logs, tail and follow, metrics parsing."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest

from mlserve.contract.metrics import histogram_quantile, summarize
from mlserve.deploy.local.files import RotatingLog, follow_lines, read_json, tail_lines, write_json
from mlserve.errors import StateError
from mlserve.runtime.metrics import Metrics

pytestmark = pytest.mark.timeout(30)


def test_write_json_replaces_the_file_whole_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "state" / "state.json"
    write_json(path, {"a": 1})
    write_json(path, {"b": 2})
    assert read_json(path) == {"b": 2}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]
    assert read_json(tmp_path / "missing.json") is None


def test_a_corrupt_state_file_is_a_state_error_naming_it(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"apis": ')
    with pytest.raises(StateError, match=f"{path} is not valid JSON") as caught:
        read_json(path)
    assert "delete" in caught.value.hint


def test_the_log_is_capped_and_keeps_one_previous_part(tmp_path):
    log = RotatingLog(tmp_path / "api.log", max_bytes=1000)
    for i in range(100):
        log.write(f"line {i:03d} {'x' * 40}\n".encode())
    log.close()
    current, previous = tmp_path / "api.log", tmp_path / "api.log.1"
    assert current.stat().st_size <= 1000 and previous.stat().st_size <= 1000
    assert tail_lines(current, 1) == [f"line 099 {'x' * 40}"]
    assert tail_lines(current, 3)[0].startswith("line 097")


def test_tail_reads_the_end_of_a_large_file(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join(f"{i}\n" for i in range(100_000)))
    assert tail_lines(path, 3) == ["99997", "99998", "99999"]
    assert tail_lines(tmp_path / "none.log", 3) == []


def test_follow_yields_new_lines_across_a_rotation(tmp_path):
    path = tmp_path / "api.log"
    log = RotatingLog(path, max_bytes=200)
    log.write(b"old line, already shown by tail\n")
    expected = [f"new {i:02d} {'y' * 30}" for i in range(12)]

    taken = threading.Semaphore(0)

    def reader_has_opened_it() -> bool:  # the log's own handle, and the reader's
        return sum(f.path == str(path) for f in psutil.Process().open_files()) >= 2

    def writer():
        deadline = time.monotonic() + 30
        while not reader_has_opened_it() and time.monotonic() < deadline:  # it skips what is there
            time.sleep(0.01)
        for line in expected:
            log.write(f"{line}\n".encode())  # the 200-byte cap rotates every few lines
            # One line at a time: a reader that looks after two rotations has lost the middle file
            # (as `tail -F` would), which a slow test thread must not turn into a failure.
            taken.acquire(timeout=30)

    threading.Thread(target=writer, daemon=True).start()
    lines = follow_lines(path, poll=0.01)
    seen = []
    for _ in expected:
        seen.append(next(lines))
        taken.release()
    assert seen == expected
    assert (tmp_path / "api.log.1").exists()


def test_quantiles_interpolate_inside_buckets():
    buckets = [(0.1, 50.0), (0.2, 90.0), (0.5, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.2 + 0.3 * 0.9)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    # Observations beyond the last finite bucket: the best estimate is that bucket's bound.
    assert histogram_quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == pytest.approx(0.1)


def test_summary_reads_the_runtimes_own_metrics():
    metrics = Metrics("qa")
    for code, seconds in [(200, 0.004)] * 8 + [(400, 0.02), (503, 0.3)]:
        metrics.observe(code, seconds)
    summary = summarize(metrics.render().decode())
    assert summary.requests == 10
    assert summary.by_class == {"2xx": 8, "3xx": 0, "4xx": 1, "5xx": 1}
    assert 2.5 < summary.p50_ms <= 5.0  # inside the (2.5ms, 5ms] bucket
    assert 250 < summary.p99_ms <= 500
    assert json.dumps(summary.__dict__)  # plain data for `get -o json`
