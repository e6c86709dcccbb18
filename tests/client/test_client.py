"""mlserve.Client and AsyncClient against a really deployed project: deploy, get, predict (plain,
streamed, failing), logs, refresh, delete."""

from __future__ import annotations

import asyncio

import pytest
from local_harness import project_copy

import mlserve
from mlserve.deploy.base import APIStatus, DeployResult
from mlserve.errors import EnvironmentConfigError, NotDeployed, PredictionFailed
from mlserve.predictions import Event, Prediction

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with project_copy(tmp_path_factory.mktemp("client") / "project", stream=True) as folder:
        client = mlserve.Client(spec=folder)  # a folder works as well as its cortex.yaml
        client.results = client.deploy()
        yield client


def test_deploy_returns_what_it_did(client):
    assert all(isinstance(r, DeployResult) for r in client.results)
    assert {r.api: r.action for r in client.results} == {"greet": "created", "echo": "created", "stream": "created"}
    assert all(r.endpoint.startswith("http://127.0.0.1:") for r in client.results)
    assert [r.action for r in client.deploy()] == ["unchanged"] * 3


def test_get_lists_apis_and_one_in_detail(client):
    rows = client.get()
    assert sorted(s.api for s in rows) == ["echo", "greet", "stream"]
    assert all(isinstance(s, APIStatus) and s.status == "live" for s in rows)
    greet = client.get("greet")
    assert isinstance(greet, APIStatus) and greet.spec["predictor"]["config"] == {"greeting": "hello"}
    with pytest.raises(NotDeployed):
        client.get("nope")


def test_predict_returns_a_typed_answer(client):
    answer = client.predict("greet", {"name": "Ada"})
    assert isinstance(answer, Prediction) and answer.status_code == 200
    assert answer.json() == {"message": "hello, Ada!"}
    assert answer.request_id and answer.content_type.startswith("application/json")
    assert client.predict("echo", "plain words").json() == {"tag": "first", "payload": "plain words"}


def test_an_error_answer_raises_and_shows_up_in_get(client):
    with pytest.raises(PredictionFailed) as failed:
        client.predict("echo", {"fail": True})
    assert failed.value.status_code == 500
    request_id = failed.value.message.rsplit("request id ", 1)[1].rstrip(")")
    errors = client.get("echo").recent_errors
    assert any(request_id in line and "500" in line for line in errors), errors


def test_predict_stream_yields_events(client):
    events = list(client.predict("stream", {"n": 3}, stream=True))
    assert all(isinstance(e, Event) for e in events)
    assert [e.data for e in events] == ["token 0", "token 1", "token 2"]
    with pytest.raises(PredictionFailed, match="failed while streaming"):
        list(client.predict("stream", {"n": 3, "fail_at": 1}, stream=True))


def test_async_client_predicts_and_streams(client):
    async_client = mlserve.AsyncClient(spec=client.spec)

    async def run():
        # Three at once: one running plus the default queue (2 per thread) holds them all; a fourth is 503.
        answers = await asyncio.gather(*(async_client.predict("greet", {"name": str(i)}) for i in range(3)))
        tokens = [e.json() async for e in async_client.stream("stream", {"n": 2, "json": True})]
        return answers, tokens

    answers, tokens = asyncio.run(run())
    assert [a.json()["message"] for a in answers] == [f"hello, {i}!" for i in range(3)]
    assert tokens == [{"token": 0}, {"token": 1}]


def test_logs_and_refresh(client):
    assert any("runtime is ready" in line for line in client.logs("greet", tail=50))
    result = client.refresh("greet")
    assert result.api == "greet" and result.endpoint
    assert client.predict("greet", {"name": "Bo"}).json() == {"message": "hello, Bo!"}


def test_delete_one_api(client):
    assert [r.api for r in client.delete("stream")] == ["stream"]
    assert sorted(s.api for s in client.get()) == ["echo", "greet"]


def test_mlserve_env_picks_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLSERVE_CONFIG", str(tmp_path / "environments.yaml"))
    monkeypatch.setenv("MLSERVE_ENV", "nowhere")
    with pytest.raises(EnvironmentConfigError, match="no environment named 'nowhere'"):
        mlserve.Client(spec=tmp_path).get()


def test_import_mlserve_loads_no_client_code():
    import subprocess
    import sys

    code = "import sys, mlserve; print(any(m in sys.modules for m in ('httpx', 'mlserve.client', 'fastapi')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
