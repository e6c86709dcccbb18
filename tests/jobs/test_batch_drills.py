"""BatchAPI jobs on real processes: a job service deployed by the local backend, real workers,
the sqlite queue. The drills of issue 23: a worker killed mid-batch, a batch that always fails,
the job service killed mid-job, a timeout, a stop, malformed submissions."""

from __future__ import annotations

import os
import signal

import httpx
import psutil
import pytest

from mlserve.jobs.store import JobStore
from tests.deploy.local_harness import pids, wait_for


def _items(n: int) -> list[int]:
    return list(range(n))


def test_a_job_runs_every_batch_once_and_on_job_complete_once(deployed):
    job = deployed.submit({"workers": 2, "item_list": {"items": _items(20), "batch_size": 3}})
    rec = deployed.wait(job)
    assert rec["status"] == "succeeded", rec
    assert (rec["batches_total"], rec["batches_succeeded"], rec["batches_failed"]) == (7, 7, 0)
    assert rec["start_time"] <= rec["end_time"] and rec["workers"] == 2
    results = deployed.results(job)
    assert sorted(int(k) for k in results) == _items(20)
    assert all(len(files) == 1 for files in results.values())
    assert len((deployed.out / job / "complete.log").read_text().splitlines()) == 1
    log = httpx.get(deployed.url() + "/logs", params={"jobID": job}).text.splitlines()
    assert log and all(f"job {job}" in line for line in log)


def test_a_worker_killed_mid_batch_has_its_batch_delivered_again(deployed, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()  # the batch of item 7 runs until its worker is killed; its rerun goes through
    job = deployed.submit({"workers": 1, "item_list": {"items": _items(12), "batch_size": 3},
                           "config": {"hold_on": 7, "hold": str(hold)},
                           "retry": {"max_attempts": 3, "visibility_timeout": 1}})
    wait_for(lambda: "000002" in deployed.runs(job), what="the held batch to start")  # items 6-8
    worker = deployed.job(job)["worker_pids"][0]
    os.kill(worker, signal.SIGKILL)
    hold.unlink()
    rec = deployed.wait(job)
    assert rec["status"] == "succeeded", rec
    assert deployed.runs(job).count("000002") == 2  # it ran twice...
    results = deployed.results(job)
    assert sorted(int(k) for k in results) == _items(12)
    assert all(len(files) == 1 for files in results.values())  # ...and every item is there once
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE


def test_a_batch_that_always_fails_goes_to_the_dead_letter_store_with_its_error(deployed):
    job = deployed.submit({"workers": 2, "item_list": {"items": _items(10), "batch_size": 2},
                           "config": {"fail_on": 5}, "retry": {"max_attempts": 2}})
    rec = deployed.wait(job)
    assert rec["status"] == "completed_with_failures", rec
    assert (rec["batches_succeeded"], rec["batches_failed"]) == (4, 1)
    assert deployed.runs(job).count("000002") == 2  # items 4, 5: tried max_attempts times
    dead = JobStore(deployed.folder / ".mlserve" / "jobs" / "squares").queue_of(deployed.job(job)).dead()
    assert [d.item_id for d in dead] == ["000002"]
    assert "ValueError: cannot square 5" in dead[0].error and dead[0].attempts == 2
    assert "5" not in deployed.results(job)


def test_the_job_service_killed_mid_job_resumes_the_job(deployed, tmp_path):
    hold = tmp_path / "hold"
    hold.touch()  # the job cannot end before the kill: the batch of item 8 (the fifth) waits for it
    job = deployed.submit({"workers": 1, "item_list": {"items": _items(30), "batch_size": 2},
                           "config": {"sleep": 0.3, "hold_on": 8, "hold": str(hold)},
                           "retry": {"visibility_timeout": 2}})
    wait_for(lambda: len(deployed.runs(job)) >= 3, what="some batches done")
    service = pids(deployed.backend, "squares")["runtime"]
    os.kill(service, signal.SIGKILL)  # its supervisor restarts it; the workers die with it
    hold.unlink()
    rec = deployed.wait(job, timeout=120)
    assert rec["status"] == "succeeded", rec
    assert pids(deployed.backend, "squares")["runtime"] != service
    results = deployed.results(job)
    assert sorted(int(k) for k in results) == _items(30)
    assert all(len(files) == 1 for files in results.values())
    log = httpx.get(deployed.url() + "/logs", params={"jobID": job}).text
    assert "resuming after a restart of the job service" in log


def test_a_job_past_its_timeout_ends_timed_out_with_its_workers_gone(deployed):
    job = deployed.submit({"workers": 2, "timeout": 1.5, "item_list": {"items": _items(40), "batch_size": 1},
                           "config": {"sleep": 1}})
    rec = deployed.wait(job)
    assert rec["status"] == "timed_out" and rec["batches_succeeded"] < 40, rec
    # The workers' pids from the job's log: the record lists them only while the 1.5 s job runs.
    log = httpx.get(deployed.url() + "/logs", params={"jobID": job}).text
    running = [int(line.rsplit("(pid ", 1)[1].rstrip(")")) for line in log.splitlines() if "started (pid " in line]
    assert len(running) == 2, log
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in running)


def test_delete_stops_the_workers_before_it_answers(deployed):
    job = deployed.submit({"workers": 2, "item_list": {"items": _items(40), "batch_size": 1},
                           "config": {"sleep": 5}})
    running = deployed.wait(job, until=lambda r: len(r["worker_pids"]) == 2)["worker_pids"]
    answer = httpx.delete(deployed.url(), params={"jobID": job}, timeout=60)
    assert answer.status_code == 200 and answer.json()["status"] == "stopped"
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in running)


@pytest.mark.parametrize(("body", "field"), [
    ({"item_list": {"items": [1], "batch_size": 0}}, "item_list.batch_size"),
    ({"item_list": {"items": [], "batch_size": 1}}, "item_list.items"),
    ({}, "item_list"),
    ({"item_list": {"items": [1], "batch_size": 1}, "delimited_files": {"paths": ["a"], "batch_size": 1}},
     "delimited_files"),
    ({"item_list": {"items": [1], "batch_size": 1}, "workers": 0}, "workers"),
    ({"item_list": {"items": [1], "batch_size": 1}, "wokers": 2}, "wokers"),
    ({"file_path_lister": {"paths": ["no/such/folder"], "batch_size": 1}}, "file_path_lister.paths[0]"),
    ({"file_path_lister": {"s3_paths": ["b/x"], "batch_size": 1}}, "file_path_lister.s3_paths"),
    ({"file_path_lister": {"paths": ["a"], "s3_paths": ["s3://b/x"], "batch_size": 1}}, "file_path_lister.paths"),
    ({"item_list": {"items": [1], "batch_size": 1}, "retry": {"max_attempts": 0}}, "retry.max_attempts"),
])
def test_a_malformed_submission_is_a_400_naming_the_field(deployed, body, field):
    answer = httpx.post(deployed.url(), json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert set(error) == {"error", "request_id", "hint"} and error["hint"]
    assert error["error"].startswith(f"{field}") or f"{field}:" in error["error"], error


def test_an_unknown_job_is_a_404_in_the_error_shape(deployed):
    answer = httpx.get(deployed.url(), params={"jobID": "nope"})
    assert answer.status_code == 404 and answer.json()["hint"]


def test_files_and_json_lines_are_listed_into_batches(deployed):
    docs = deployed.folder / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"{i}.txt").write_text(str(i))
    (docs / "skip.md").write_text("x")
    (deployed.folder / "rows.jsonl").write_text("1\n2\n\n3\n")
    # The predictor squares its items: paths are strings, so it is given their numbers via a file lister
    # that the test checks by batch count only; the JSON lines are squared.
    listed = deployed.submit({"file_path_lister": {"paths": ["docs"], "includes": ["*.txt"], "batch_size": 2},
                              "config": {"fail_on": "never"}, "retry": {"max_attempts": 1}})
    rec = deployed.wait(listed)
    assert rec["batches_total"] == 3  # 5 .txt files in batches of 2; skip.md excluded
    rows = deployed.submit({"delimited_files": {"paths": ["rows.jsonl"], "batch_size": 2}})
    assert deployed.wait(rows)["status"] == "succeeded"
    assert sorted(deployed.results(rows)) == ["1", "2", "3"]
