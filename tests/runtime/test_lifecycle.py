"""Process lifecycle: readiness, init failures and exit codes, graceful drain, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from loopback import free_port
from runtime_harness import REPO

pytestmark = pytest.mark.timeout(120)


def test_ready_only_after_slow_init(start, tmp_path):
    loaded = tmp_path / "loaded"  # loading ends when the test has seen the API unready
    server = start("slow_init.py", {"config": {"until": str(loaded)}}, ready=False)
    server.wait("/healthz")
    assert server.client.get("/healthz").status_code == 200
    r = server.client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"ready": False}
    r = server.client.post("/t", json={})
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert "still loading" in r.json()["error"]
    loaded.touch()
    server.wait("/readyz")
    assert server.client.post("/t", json={}).text == "ready"


def wait_exit(server, timeout=60) -> int:
    return server.proc.wait(timeout)


def test_init_failure_exits_3_with_user_traceback(start):
    server = start("init_fails.py", ready=False)
    assert wait_exit(server) == 3
    err = server.stderr_text()
    assert "init_fails.py: class InitFails: __init__ raised FileNotFoundError" in err
    assert 'init_fails.py", line 5, in load_weights' in err
    assert "FileNotFoundError: weights not found at /nowhere/model.bin" in err


def test_import_failure_exits_3_with_user_traceback(start):
    server = start("import_fails.py", ready=False)
    assert wait_exit(server) == 3
    err = server.stderr_text()
    assert 'import_fails.py", line 3, in <module>' in err
    assert "ModuleNotFoundError: No module named 'fixture_helper_that_does_not_exist'" in err
    assert "importlib._bootstrap" not in err


def test_init_failure_in_worker_processes_exits_3(start):
    server = start("init_fails.py", {"processes_per_replica": 2}, ready=False)
    assert wait_exit(server) == 3
    assert "FileNotFoundError: weights not found" in server.stderr_text()


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlserve.runtime", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=60)


def test_bad_spec_exits_2_without_traceback(tmp_path):
    (tmp_path / "cortex.yaml").write_text("- name: t\n  predictor:\n    path: missing.py\n")
    r = run_cli("--spec", str(tmp_path / "cortex.yaml"), "--api", "t")
    assert r.returncode == 2
    assert "predictor.path: 'missing.py' does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_api_and_missing_args_exit_2(tmp_path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload): return 1\n")
    (tmp_path / "cortex.yaml").write_text("- name: t\n  predictor:\n    path: p.py\n")
    r = run_cli("--spec", str(tmp_path), "--api", "other")
    assert r.returncode == 2 and "no api named 'other' (apis: t)" in r.stderr
    r = run_cli()
    assert r.returncode == 2 and "--spec and --api are required" in r.stderr


def test_env_vars_configure_the_server(tmp_path):
    port = free_port()
    (tmp_path / "p.py").write_text(
        "import os\nclass P:\n    def predict(self):\n        return os.environ['GREETING'] + ' ' + os.getcwd()\n")
    (tmp_path / "cortex.yaml").write_text("- name: t\n  predictor:\n    path: p.py\n    env: {GREETING: hey}\n")
    proc = subprocess.Popen([sys.executable, "-m", "mlserve.runtime"], cwd="/",
                            env={**os.environ, "PYTHONPATH": str(REPO), "MLSERVE_SPEC": str(tmp_path / "cortex.yaml"),
                                 "MLSERVE_API": "t", "MLSERVE_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/t", json={})
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        assert r.text == f"hey {tmp_path.resolve()}"
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_graceful_shutdown_drains_in_flight_requests(start):
    server = start("echo.py", {"threads_per_process": 2})
    results = []

    def slow_call():
        results.append(httpx.post(server.url + "/t", params={"do": "sleep", "s": "1.5"}, json={}, timeout=30))

    caller = threading.Thread(target=slow_call)
    caller.start()
    deadline = time.monotonic() + 10
    while "mlserve_in_flight_requests{api=\"t\"} 1.0" not in server.client.get("/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.proc.send_signal(signal.SIGTERM)
    caller.join(30)
    assert results and results[0].status_code == 200 and results[0].json() == {"slept": True}
    assert server.proc.wait(30) == 0


def test_worker_processes_share_metrics(start):
    server = start("echo.py", {"processes_per_replica": 2})
    pids = set()
    for _ in range(20):
        with httpx.Client(base_url=server.url) as fresh:  # new connection: any worker may answer
            assert fresh.post("/t", json={}).status_code == 200
    text = server.client.get("/metrics").text
    assert 'mlserve_requests_total{api="t",code="200"} 20.0' in text
    logs = server.stdout_path.read_text()
    pids = {line.split("[", 1)[1].split("]", 1)[0] for line in logs.splitlines() if '"POST /t"' in line}
    assert pids  # access lines name the worker pid
    assert server.stop() == 0
