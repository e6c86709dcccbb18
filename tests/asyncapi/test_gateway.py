"""The gateway's answers, over real processes: ids, records, errors in the one shape, the bound, TTL,
partial results of a streaming predictor, and the webhook (down: retried, failure recorded, result kept)."""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import pytest
from loopback import free_port

from mlserve.contract.metrics import summarize

JOBS = {"name": "jobs", "class_name": "Jobs"}


def _error_shape(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error", "request_id", "hint"} and body["hint"], body
    return body


def test_submit_answers_an_id_at_once_and_the_record_follows_the_item(launch, tmp_path):
    api = launch(JOBS)
    hold = tmp_path / "hold"
    hold.touch()  # the item runs until the test has seen it unfinished
    item = api.submit({"n": 7, "hold": str(hold)})
    first = api.record(item)
    assert first["id"] == item and first["status"] in ("in_queue", "in_progress") and "submitted" in first
    assert api.wait(item, until=lambda r: r["status"] != "in_queue")["status"] == "in_progress"
    hold.unlink()
    done = api.wait(item)
    assert done["status"] == "completed" and done["result"]["n"] == 7 and done["attempts"] == 1
    assert done["submitted"] <= done["started"] <= done["finished"]


def test_bad_ids_and_routes_get_404_in_the_error_shape(launch):
    api = launch(JOBS)
    missing = httpx.get(f"{api.url}/jobs/0123456789abcdef", timeout=5)
    assert missing.status_code == 404 and "0123456789abcdef" in _error_shape(missing)["error"]
    nested = httpx.get(f"{api.url}/jobs/a/b", timeout=5)
    assert nested.status_code == 404 and _error_shape(nested)


def test_malformed_submissions_get_400_naming_what_is_wrong(launch):
    api = launch({"name": "story", "class_name": "Stream"})
    broken = httpx.post(f"{api.url}/story", content=b'{"prompt": "a",', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in _error_shape(broken)["error"]
    wrong = httpx.post(f"{api.url}/story", json={"prompt": "a", "words": "many"})
    assert wrong.status_code == 400 and "words" in _error_shape(wrong)["error"]
    missing = httpx.post(f"{api.url}/story", json={"words": 2})
    assert missing.status_code == 400 and "prompt" in _error_shape(missing)["error"]
    assert api.submit({"prompt": "a", "words": 1})  # and a good one is taken


def test_past_max_replica_concurrency_a_submission_gets_503_with_retry_after(launch, tmp_path):
    api = launch({**JOBS, "autoscaling": {"max_replica_concurrency": 2}})
    hold = tmp_path / "hold"
    hold.touch()  # both items stay unfinished until the end of the test (the processes are killed then)
    api.submit({"n": 1, "hold": str(hold)})
    api.submit({"n": 2, "hold": str(hold)})
    full = httpx.post(f"{api.url}/jobs", json={"n": 3}, timeout=5)
    assert full.status_code == 503 and int(full.headers["retry-after"]) > 0
    assert "max_replica_concurrency" in _error_shape(full)["error"]
    # What `mlserve get` and the autoscaler read back from /metrics: both items, waiting or running.
    summary = summarize(httpx.get(f"{api.url}/metrics", timeout=5).text)
    assert summary.queued + summary.in_progress == 2 and summary.by_class["5xx"] == 1


def test_records_expire_after_the_result_ttl(launch):
    api = launch({**JOBS, "queue": {"result_ttl": "1s"}})
    item = api.submit({"n": 1})
    assert api.wait(item)["status"] == "completed"
    api.wait(item, timeout=30, until=lambda r: r.get("error", "").startswith("no item"))


def test_a_streaming_predictor_shows_partial_output_while_it_runs(launch, tmp_path):
    api = launch({"name": "story", "class_name": "Stream", "queue": {"partial_interval": "100ms"}})
    hold = tmp_path / "hold"
    hold.touch()  # the stream stops after its first word until the test has seen the partial output
    item = api.submit({"prompt": "w", "words": 40, "hold": str(hold)})
    partial = api.wait(item, until=lambda r: r.get("partial") or r["status"] == "completed")
    assert partial["status"] == "in_progress" and partial["partial"].startswith("w0 ")
    hold.unlink()
    done = api.wait(item)
    assert done["result"] == "".join(f"w{i} " for i in range(40))


def test_with_partials_the_result_is_what_predict_answers_and_the_model_runs_once(launch, tmp_path):
    api = launch({"name": "told", "class_name": "Told", "queue": {"partial_interval": "100ms"}})
    runs, hold = tmp_path / "runs", tmp_path / "hold"
    hold.touch()  # as above: the partial output is seen while the item runs
    item = api.submit({"words": 30, "runs": str(runs), "hold": str(hold)})
    partial = api.wait(item, until=lambda r: r.get("partial") or r["status"] == "completed")
    assert partial["status"] == "in_progress" and partial["partial"].startswith("w0 ")
    hold.unlink()
    done = api.wait(item)
    assert done["result"] == {"text": "".join(f"w{i} " for i in range(30)), "words": 30}, done
    assert runs.read_text() == "run\n"  # the stream's answer was kept: predict did not run again


def test_a_failing_predictor_fails_the_item_with_the_error_shape(launch):
    api = launch(JOBS)
    done = api.wait(api.submit({"n": 1, "fail": True}))
    assert done["status"] == "failed" and set(done["error"]) == {"error", "request_id", "hint"}
    assert done["error"]["request_id"] == done["id"]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args):
        pass


def test_the_webhook_gets_the_finished_record(launch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = launch({**JOBS, "webhook": {"url": f"http://127.0.0.1:{server.server_port}/done"}})
        item = api.submit({"n": 5})
        done = api.wait(item, until=lambda r: "webhook" in r)
        assert done["webhook"] == {"delivered": True, "attempts": 1}
        assert [(r["id"], r["status"], r["result"]["n"]) for r in _Hook.received] == [(item, "completed", 5)]
    finally:
        server.shutdown()


def test_a_webhook_target_that_is_down_is_retried_then_the_failure_is_recorded_and_the_result_kept(launch):
    down = f"http://127.0.0.1:{free_port()}/done"  # nothing listens there
    api = launch({**JOBS, "webhook": {"url": down, "retries": 2, "backoff": "50ms"}})
    done = api.wait(api.submit({"n": 9}), until=lambda r: "webhook" in r)
    assert done["status"] == "completed" and done["result"]["n"] == 9
    assert done["webhook"]["delivered"] is False and done["webhook"]["attempts"] == 3
    assert down in done["webhook"]["error"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer(launch, path):
    assert httpx.get(f"{launch(JOBS).url}{path}", timeout=5).status_code == 200


def test_an_api_key_guards_submissions_and_records_as_for_a_realtime_api(launch, monkeypatch):
    monkeypatch.setenv("JOBS_KEY", "s3cret")
    api = launch({**JOBS, "networking": {"api_key_env": "JOBS_KEY"}})
    refused = httpx.post(f"{api.url}/jobs", json={"n": 1}, timeout=5)
    assert refused.status_code == 401 and _error_shape(refused)
    assert httpx.get(f"{api.url}/jobs/{'0' * 32}", timeout=5).status_code == 401
    sent = httpx.post(f"{api.url}/jobs", json={"n": 1}, headers={"authorization": "Bearer s3cret"}, timeout=5)
    assert sent.status_code == 200 and sent.headers["x-request-id"]
    record = httpx.get(f"{api.url}/jobs/{sent.json()['id']}", headers={"x-api-key": "s3cret"}, timeout=5)
    assert record.status_code == 200 and record.json()["id"] == sent.json()["id"]
