"""A supervisor counts an API as ready only when its own runtime answers /readyz.

Another program can take an API's port between the deploy's check and the runtime's bind (another
project deploying at the same moment, say). Its /readyz then answers 200, but that is not our API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mlserve.deploy.local.state import StateDir
from tests.deploy.local_harness import wait_for


class _AlwaysReady(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = json.dumps({"ready": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_foreign_server_on_the_port_is_not_taken_for_the_runtime(tmp_path):
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysReady)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    state = StateDir(tmp_path / ".mlserve")
    # A "runtime" that never listens: only the foreign server answers on the port.
    supervisor = subprocess.Popen([sys.executable, "-m", "mlserve.deploy.local.supervisor", "--state-dir",
                                   str(state.path), "--api", "echo", "--port", str(foreign.server_port), "--grace", "1",
                                   "--", sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        wait_for(lambda: state.status_file("echo").is_file() and state.read_status("echo").get("child_pid"),
                 timeout=60, what="the supervisor to start its runtime")
        time.sleep(3)  # many probe rounds (every 0.2 s), each answered 200 by the foreign server
        assert state.read_status("echo")["status"] != "live"
    finally:
        supervisor.terminate()
        supervisor.wait(30)
        foreign.shutdown()


def test_a_runtime_whose_port_is_taken_exits_at_once_and_says_so(tmp_path):
    from tests.deploy.local_harness import FIXTURE

    holder = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysReady)
    try:
        result = subprocess.run([sys.executable, "-m", "mlserve.runtime", "--spec", str(FIXTURE / "cortex.yaml"),
                                 "--api", "echo", "--port", str(holder.server_port)],
                                capture_output=True, text=True, timeout=120)
    finally:
        holder.server_close()
    assert result.returncode == 4, result.stderr
    assert f"cannot listen on 127.0.0.1:{holder.server_port}" in result.stderr
    assert "another program holds the port" in result.stderr
