"""mlserve's autoscaler in a real cluster: load on an API scales it up, no load scales it back down,
and a killed controller picks up where it stopped.

The API's replicas may run on any node; the first one runs on MLSERVE_TEST_NODE (the others are
cordoned while it starts), so the load on it is real. Extra replicas land on other nodes (hollow
ones in .ci/e2e.sh): they count as replicas, and the controller never contacts them.
Measured times are printed (run with -s) and written to $MLSERVE_E2E_TIMES if set.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import need

pytestmark = pytest.mark.e2e
ENV = "e2e-autoscaling"
TICK = 2  # seconds between the controller's decisions
SLOW = "import time\n\n\nclass Slow:\n    def predict(self, payload):\n        time.sleep(0.5)\n        return 'ok'\n"
SPEC = """\
- name: slow
  # Queue every caller: the in-flight count, not the default waiting budget (2s), is under test here.
  predictor: {path: slow.py, max_queue_wait: 60s}
  autoscaling:
    min_replicas: 1
    max_replicas: 3
    target_replica_concurrency: 2
    window: 10s
    upscale_stabilization_period: 4s
    downscale_stabilization_period: 20s
  update_strategy: {max_surge: 0, max_unavailable: 1}
"""


class Load:
    """`clients` callers, each POSTing again as soon as its answer came (closed loop)."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.stop, self.answers = url, threading.Event(), []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    self.answers.append(client.post(self.url, json={}).status_code)
                except httpx.HTTPError:
                    time.sleep(0.1)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


class Scaling:
    def __init__(self, cluster) -> None:
        from kubernetes import client

        self.cluster = cluster
        api_client = cluster.api_client()
        self.apps, self.core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)

    def replicas(self) -> int:
        return self.apps.read_namespaced_deployment("slow", self.cluster.namespace).spec.replicas

    def wait(self, condition, timeout: float, what: str) -> float:
        """Seconds until `condition(replicas)` held; fails with the controller's log after `timeout`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if condition(self.replicas()):
                return time.monotonic() - start
            time.sleep(0.5)
        pytest.fail(f"{what}: not within {timeout}s (replicas {self.replicas()})\n{self.controller_log()}")

    def controller_pods(self) -> list:
        pods = self.core.list_namespaced_pod(self.cluster.namespace,
                                             label_selector="app.kubernetes.io/name=mlserve-autoscaler").items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    def controller_log(self) -> str:
        return "\n".join(self.core.read_namespaced_pod_log(p.metadata.name, self.cluster.namespace, tail_lines=40)
                         for p in self.controller_pods() if p.status.phase == "Running")

    def events(self) -> list[dict]:
        data = self.core.read_namespaced_config_map("mlserve-autoscaler", self.cluster.namespace).data or {}
        return json.loads(data.get("slow.json", "{}")).get("events", [])

    def set_cordon(self, nodes: list[str], cordoned: bool) -> None:
        for node in nodes:
            self.core.patch_node(node, {"spec": {"unschedulable": cordoned}})


def test_load_scales_up_and_down_and_survives_a_controller_restart(cluster, tmp_path):
    need("MLSERVE_TEST_NODE")  # the load goes to the API through the node's (loopback) address
    project = tmp_path / "scaled"
    project.mkdir()
    (project / "slow.py").write_text(SLOW)
    (project / "cortex.yaml").write_text(SPEC)
    spec = project / "cortex.yaml"
    cluster.mlserve("env", "set", ENV, "--provider", "kubernetes", *cluster.env_args(pin_apis=False),
                    "--autoscaler-interval", str(TICK))
    scaling = Scaling(cluster)
    others = [n.metadata.name for n in scaling.core.list_node().items if n.metadata.name != cluster.node]
    scaling.set_cordon(others, True)  # the first replica must run for real
    try:
        cluster.mlserve("deploy", spec, "--env", ENV)
    finally:
        scaling.set_cordon(others, False)
    times: dict[str, float] = {}
    load = None
    try:
        endpoint = json.loads(cluster.mlserve("get", "slow", "--env", ENV, "--spec", spec, "-o", "json").stdout)["endpoint"]
        assert scaling.replicas() == 1
        scaling.wait(lambda n: scaling.controller_pods() != [], 120, "the controller's pod exists")

        # 4 callers of a 0.5 s predict with one thread: ~4 in flight, target 2 -> 2 replicas.
        load = Load(endpoint, 4)
        times["load_start_to_2_replicas_s"] = scaling.wait(lambda n: n >= 2, 180, "scale-up under load")
        status = cluster.mlserve("get", "--env", ENV, "--spec", spec).stdout
        assert "replicas" in status and "in-flight" in status, status
        detail = cluster.mlserve("get", "slow", "--env", ENV, "--spec", spec).stdout
        assert "scaling decisions" in detail and "1 -> 2" in detail, detail

        # Kill the controller mid-run: its Deployment starts another, which continues from the state
        # in the cluster. More load (8 in flight -> 4 wanted, max 3) is only its doing.
        killed = scaling.controller_pods()[0].metadata.name
        scaling.core.delete_namespaced_pod(killed, cluster.namespace, grace_period_seconds=0)
        load.end()
        load = Load(endpoint, 8)
        started = time.monotonic()
        scaling.wait(lambda n: n == 3, 240, "scale-up after the controller restarted")
        times["controller_killed_to_3_replicas_s"] = time.monotonic() - started
        assert killed not in {p.metadata.name for p in scaling.controller_pods()}
        # Its state was read back: the decisions before and after the restart are one history.
        steps = lambda: [(e["current"], e["request"]) for e in scaling.events()][-2:]  # noqa: E731
        deadline = time.monotonic() + 30  # the state is written just after the scale
        while steps() != [(1, 2), (2, 3)] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert steps() == [(1, 2), (2, 3)], scaling.controller_log()

        load.end()
        load = None
        times["load_stop_to_1_replica_s"] = scaling.wait(lambda n: n == 1, 300, "scale-down without load")
        assert scaling.replicas() == 1
    finally:
        if load:
            load.end()
        report = json.dumps(times)
        print(f"\nautoscaling times: {report}")
        if os.environ.get("MLSERVE_E2E_TIMES"):
            Path(os.environ["MLSERVE_E2E_TIMES"]).write_text(report)
        cluster.mlserve("delete", "--all", "--env", ENV, "--spec", spec, check=False)
