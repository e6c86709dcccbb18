"""What a deployed API writes, in one format: text lines `time LEVEL logger [pid] message`, or with
MLSERVE_LOG_FORMAT=json one JSON object per line (request ids, statuses, latency, tracebacks as
fields). Predictor prints become log lines; progress bars are off."""

from __future__ import annotations

import json
import re

import pytest
from local_harness import cleanup, copy_project, edit_spec
from loopback import free_port

import mlserve
from mlserve.errors import PredictionFailed

pytestmark = pytest.mark.timeout(180)
NOISY = '''
import sys
import warnings

from tqdm import tqdm


class Noisy:
    def __init__(self, config):
        print("loading the noisy model")
        for _ in tqdm(range(3), desc="weights"):
            pass
        warnings.warn("this model is old")

    def predict(self, payload):
        print("predicting", payload)
        if payload == "fail":
            raise ValueError("asked to fail")
        return "ok"
'''
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) mlserve\.[a-z.]+ "
                       r"\[\d+\] ")


def deploy(tmp_path, monkeypatch, log_format: str | None):
    if log_format:
        monkeypatch.setenv("MLSERVE_LOG_FORMAT", log_format)
    folder = copy_project(tmp_path / "project")
    (folder / "predictors" / "noisy.py").write_text(NOISY)
    edit_spec(folder / "cortex.yaml", lambda apis: apis.__setitem__(slice(None), [
        {"name": "noisy", "predictor": {"path": "predictors/noisy.py"},
         # An ephemeral port: the 89xx range may be taken by other projects on a shared machine.
         "networking": {"local_port": free_port()}}]))
    client = mlserve.Client(spec=folder)
    client.deploy()
    assert client.predict("noisy", "hello").text == "ok"
    with pytest.raises(PredictionFailed) as failed:
        client.predict("noisy", "fail")
    request_id = failed.value.message.rsplit("request id ", 1)[1].rstrip(")")
    client.delete()  # the supervisor's last notes are in the log once it has stopped
    lines = (folder / ".mlserve" / "logs" / "noisy.log").read_text().splitlines()
    assert cleanup(folder) == []
    return lines, request_id


def test_text_lines_share_one_format(tmp_path, monkeypatch):
    lines, request_id = deploy(tmp_path, monkeypatch, None)
    records = [line for line in lines if TEXT_LINE.match(line)]
    # The only other lines are the traceback's continuation lines.
    others = [line for line in lines if not TEXT_LINE.match(line)]
    assert others and all(line.startswith(("Traceback", " ", "ValueError: asked to fail")) for line in others), \
        others
    text = "\n".join(records)
    for expected in ("INFO mlserve.supervisor", "INFO mlserve.server", "INFO mlserve.predictor",
                     "loading the noisy model", "WARNING mlserve.warnings", f"request {request_id}: predict raised"):
        assert expected in text, expected
    assert "uvicorn" not in text and "weights:" not in "\n".join(lines)  # no progress bar


def test_json_lines(tmp_path, monkeypatch):
    lines, request_id = deploy(tmp_path, monkeypatch, "json")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    runtime = [r for r in records if r["logger"] != "mlserve.supervisor"]
    assert runtime and all(r["api"] == "noisy" for r in runtime)
    access = [r for r in records if r["logger"] == "mlserve.access"]
    assert {r["status"] for r in access} == {200, 500}
    assert all(isinstance(r["latency_ms"], float) and r["request_id"] for r in access)
    crash = next(r for r in records if r["level"] == "ERROR" and r.get("request_id") == request_id)
    assert crash["message"] == f"request {request_id}: predict raised"
    assert crash["traceback"].startswith("Traceback") and "ValueError: asked to fail" in crash["traceback"]
    assert any(r["logger"] == "mlserve.predictor" and r["message"] == "predicting hello" for r in records)
    assert not any("weights:" in line for line in lines)
