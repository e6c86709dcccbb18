"""The controller's tick against an in-memory Kubernetes API (label selectors, scale and ConfigMap
merge patches as the API server does them), and its scrape against a real runtime process."""

from __future__ import annotations

import json
import threading
import time

import pytest
from runtime_harness import Runtime

from mlserve.autoscaler.controller import Config, Controller, allowed, parse_networks, scrape_in_flight
from mlserve.autoscaler.state import CONTROLLER, load
from mlserve.deploy.manifests import COMPONENT, MANAGED_BY, NAME, SCALED_BY, SPEC
from mlserve.errors import DeployError

FAST = {"min_replicas": 1, "max_replicas": 5, "target_replica_concurrency": 1, "window": "20s",
        "upscale_stabilization_period": "0s", "downscale_stabilization_period": "20s"}


class FakeKube:
    """The five calls of KubeAPI over in-memory objects, with the API server's semantics."""

    def __init__(self) -> None:
        self.deployments: dict[str, dict] = {}
        self.pods: list[dict] = []
        self.configmap: dict[str, str] = {}
        self.scaled: list[tuple[str, int]] = []

    def add_api(self, name: str, replicas: int, autoscaling: dict, *, labels: dict | None = None) -> None:
        self.deployments[name] = {
            "metadata": {"name": name, "labels": {NAME: name, MANAGED_BY: "mlserve", COMPONENT: "api", **(labels or {})},
                         "annotations": {SPEC: json.dumps({"autoscaling": autoscaling})}},
            "spec": {"replicas": replicas,
                     "template": {"spec": {"containers": [{"ports": [{"containerPort": 8080}]}]}}}}

    def add_pod(self, api: str, ip: str, ready: bool = True) -> None:
        self.pods.append({"metadata": {"name": f"{api}-{len(self.pods)}", "labels": {NAME: api, MANAGED_BY: "mlserve",
                                                                                    COMPONENT: "api"}},
                          "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": str(ready)}]}})

    def list(self, group, resource, label_selector):
        wanted = dict(pair.split("=") for pair in label_selector.split(","))
        items = list(self.deployments.values()) if resource == "deployments" else self.pods
        return [o for o in items if wanted.items() <= o["metadata"]["labels"].items()]

    def scale(self, deployment, replicas):
        if deployment not in self.deployments:
            raise DeployError(f"deployments.apps {deployment} not found")
        self.deployments[deployment]["spec"]["replicas"] = replicas
        self.scaled.append((deployment, replicas))

    def read_configmap(self, name):
        assert name == CONTROLLER
        return dict(self.configmap)

    def patch_configmap(self, name, data):
        assert name == CONTROLLER
        for k, v in data.items():
            self.configmap.pop(k, None) if v is None else self.configmap.__setitem__(k, v)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def controller(kube, clock, loads: dict[str, float | None], cidrs="127.0.0.0/8") -> tuple[Controller, list[str]]:
    scraped: list[str] = []

    def scrape(address, port, timeout):
        scraped.append(address)
        return loads.get(address)

    config = Config(namespace="ns", scrape_networks=parse_networks(cidrs), interval=10)
    return Controller(kube, config, clock=clock, scrape=scrape), scraped


def test_scales_up_on_scraped_load_counting_unscrapable_pods_as_replicas_only():
    kube, clock = FakeKube(), Clock()
    kube.add_api("qa", 1, FAST)
    kube.add_pod("qa", "127.0.0.1")
    loads = {"127.0.0.1": 3.0}
    ctl, scraped = controller(kube, clock, loads)
    ctl.tick()
    assert kube.deployments["qa"]["spec"]["replicas"] == 2  # ceil(3 / 1), step capped at max(n+1, 1.5 n)
    # The new replica lands where its address is outside the allow-list: counted, never contacted.
    kube.add_pod("qa", "10.64.0.7")
    clock.now += 10
    ctl.tick()
    assert kube.deployments["qa"]["spec"]["replicas"] == 3
    assert "10.64.0.7" not in scraped
    state = load(kube.configmap)["qa"]
    assert [e["request"] for e in state.events] == [2, 3]
    assert state.last["avg_in_flight"] == 3.0 and state.last["scraped"] == 1


def test_leaves_other_deployments_alone_and_forgets_deleted_apis():
    kube, clock = FakeKube(), Clock()
    kube.add_api("qa", 1, FAST)
    kube.add_api("hpa-scaled", 1, FAST, labels={SCALED_BY: "hpa"})
    kube.deployments["foreign"] = {**kube.deployments["qa"], "metadata": {
        **kube.deployments["qa"]["metadata"], "name": "foreign", "labels": {NAME: "foreign", MANAGED_BY: "helm"}}}
    for api in ("qa", "hpa-scaled", "foreign"):
        kube.add_pod(api, "127.0.0.1")
    ctl, _ = controller(kube, clock, {"127.0.0.1": 4.0})
    ctl.tick()
    assert {name for name, _ in kube.scaled} == {"qa"}
    assert set(load(kube.configmap)) == {"qa"}
    del kube.deployments["qa"]
    clock.now += 10
    ctl.tick()
    assert load(kube.configmap) == {}


def test_unreadable_replica_blocks_scale_down_and_a_restart_continues_the_history():
    kube, clock = FakeKube(), Clock()
    kube.add_api("qa", 3, FAST)
    kube.add_pod("qa", "127.0.0.1")
    kube.add_pod("qa", "127.0.0.2")
    loads = {"127.0.0.1": 0.0}  # 127.0.0.2 is inside the allow-list but does not answer
    ctl, _ = controller(kube, clock, loads)
    for _ in range(5):
        ctl.tick()
        clock.now += 10
    assert kube.deployments["qa"]["spec"]["replicas"] == 3
    assert "not scraped: no scale-down" in load(kube.configmap)["qa"].last["note"]
    # It answers again; the controller restarts (a new process: only the ConfigMap remains).
    loads["127.0.0.2"] = 0.0
    before = load(kube.configmap)["qa"].history
    ctl, _ = controller(kube, clock, loads)
    ctl.tick()
    after = load(kube.configmap)["qa"].history
    assert after.since == before.since  # the same history, continued (minus what aged out)
    assert after.recommendations[:-1] == [r for r in before.recommendations if clock.now - r[0] <= 20]
    # Down once every recommendation of the 20 s downscale period agrees: the held 3s age out.
    replicas = []
    for _ in range(3):
        clock.now += 10
        ctl.tick()
        replicas.append(kube.deployments["qa"]["spec"]["replicas"])
    assert replicas == [3, 2, 1]


def test_scrape_reads_a_real_runtimes_in_flight_gauge(tmp_path):
    # Each call runs until the file `release` exists (at most a minute): all three are certainly in flight.
    (tmp_path / "slow.py").write_text(
        "import os, time\n\nclass Slow:\n    def predict(self, payload):\n"
        "        deadline = time.monotonic() + 60\n"
        "        while not os.path.exists(payload['release']) and time.monotonic() < deadline:\n"
        "            time.sleep(0.05)\n"
        "        return 'ok'\n")
    (tmp_path / "cortex.yaml").write_text(
        "- name: slow\n  predictor: {path: slow.py, threads_per_process: 4}\n")
    api = Runtime(tmp_path / "cortex.yaml", "slow")
    try:
        api.wait(timeout=60)
        assert scrape_in_flight("127.0.0.1", api.port, 2) == 0
        release = tmp_path / "release"
        callers = [threading.Thread(target=api.post, args=({"release": str(release)},)) for _ in range(3)]
        for c in callers:
            c.start()
        seen, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline and 3 not in seen:
            seen.append(scrape_in_flight("127.0.0.1", api.port, 2))
            time.sleep(0.1)
        assert 3 in seen, seen
        release.touch()
        for c in callers:
            c.join()
        assert scrape_in_flight("127.0.0.1", api.port, 2) == 0
    finally:
        api.stop()
    assert scrape_in_flight("127.0.0.1", api.port, 0.5) is None  # nobody there: None, not 0


def test_settings_are_checked():
    assert allowed("127.0.0.1", parse_networks("127.0.0.0/8")) and not allowed("10.96.0.1", parse_networks("127.0.0.0/8"))
    assert allowed("fd00::1", parse_networks("0.0.0.0/0,::/0")) and not allowed("", parse_networks("0.0.0.0/0"))
    with pytest.raises(DeployError, match="'10.0.0/33' is not an address range"):
        parse_networks("127.0.0.0/8,10.0.0/33")
    with pytest.raises(DeployError, match="MLSERVE_AUTOSCALER_INTERVAL: 'soon'"):
        Config.from_env({"MLSERVE_AUTOSCALER_NAMESPACE": "ns", "MLSERVE_AUTOSCALER_INTERVAL": "soon"})
    config = Config.from_env({"MLSERVE_AUTOSCALER_NAMESPACE": "ns", "MLSERVE_AUTOSCALER_SCRAPE_CIDRS": "127.0.0.0/8",
                              "MLSERVE_AUTOSCALER_API_SERVER": "https://127.0.0.1:6443"})
    assert (config.namespace, config.api_server, config.interval) == ("ns", "https://127.0.0.1:6443", 10.0)
