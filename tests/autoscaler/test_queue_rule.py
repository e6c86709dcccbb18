"""An AsyncAPI's workers scale on their queue: ceil((waiting + in progress) / target_replica_concurrency),
with the request rule's smoothing (a real queue; the in-memory Kubernetes API of test_controller)."""

from __future__ import annotations

import json

from mlserve.autoscaler.controller import Config, Controller
from mlserve.contract.labels import ASYNC_WORKER_COMPONENT, COMPONENT, MANAGED_BY, NAME, SPEC
from mlserve.queues import open_queue
from mlserve.queues.aws import client
from mlserve.queues.sqs import create_queues
from tests.autoscaler.test_controller import FAST, Clock, FakeKube
from tests.queues.conftest import AWS

RULE = {**FAST, "max_replicas": 6, "target_replica_concurrency": 2, "max_upscale_factor": 10}


def add_workers(kube: FakeKube, api: str, env: dict[str, str], replicas: int = 1, rule: dict = RULE) -> None:
    kube.deployments[f"{api}-worker"] = {
        "metadata": {"name": f"{api}-worker", "labels": {NAME: api, MANAGED_BY: "mlserve",
                                                        COMPONENT: ASYNC_WORKER_COMPONENT},
                     "annotations": {SPEC: json.dumps({"autoscaling": rule})}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [
            {"env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}


def test_workers_follow_waiting_plus_in_progress_items(tmp_path):
    url = f"sqlite://{tmp_path / 'q.db'}"
    queue = open_queue(url)
    kube, clock = FakeKube(), Clock()
    add_workers(kube, "story", {"MLSERVE_ASYNC_QUEUE": url})
    ctl = Controller(kube, Config(namespace="ns"), clock=clock, scrape=lambda *a: None)
    for i in range(9):
        queue.put(f"i{i}", b"{}")
    held = [queue.lease(visibility_s=600) for _ in range(2)]  # 7 waiting + 2 in progress = 9 -> 5 workers
    decision = ctl.tick()["story-worker"]
    assert (decision.avg_in_flight, decision.request) == (9.0, 5)
    assert kube.scaled == [("story-worker", 5)]
    for lease in held:
        queue.ack(lease)
    while (lease := queue.lease(visibility_s=600)) is not None:
        queue.ack(lease)
    # Empty: down only as far as the downscale period (20 s) agrees, and by the step limit (0.75).
    requests = []
    for _ in range(3):
        clock.now += 10
        requests.append(ctl.tick()["story-worker"].request)
    assert requests == [5, 5, 4]


def test_the_queue_is_read_with_the_workers_aws_settings_and_an_unreadable_one_holds(moto_url, monkeypatch):
    for key in ("AWS_ENDPOINT_URL", *AWS):
        monkeypatch.delenv(key, raising=False)  # the controller's own process knows no AWS
    aws = {**AWS, "AWS_ENDPOINT_URL": moto_url}
    create_queues(client("sqs", aws), "scaled.fifo", max_receives=3)
    for i in range(3):
        open_queue("sqs://scaled.fifo", aws).put(f"i{i}", b"{}")
    kube, clock = FakeKube(), Clock()
    add_workers(kube, "story", {"MLSERVE_ASYNC_QUEUE": "sqs://scaled.fifo", "MLSERVE_API": "story", **aws})
    add_workers(kube, "lost", {"MLSERVE_ASYNC_QUEUE": "sqs://nobody-made.fifo", **aws}, replicas=3)
    decisions = Controller(kube, Config(namespace="ns"), clock=clock, scrape=lambda *a: None).tick()
    assert (decisions["story-worker"].avg_in_flight, decisions["story-worker"].request) == (3.0, 2)
    assert decisions["lost-worker"].request == 3 and "no metrics" in decisions["lost-worker"].note


def test_with_min_replicas_0_idle_workers_go_to_zero_and_a_submission_wakes_one_at_once(tmp_path):
    """Cortex's AsyncAPI scale-to-zero: an empty queue for the downscale period takes the workers to 0
    (the gateway is another Deployment, untouched); the next item brings one back on the next tick,
    without waiting out the upscale period (nothing measures load at 0 but the queue)."""
    url = f"sqlite://{tmp_path / 'q.db'}"
    queue = open_queue(url)
    kube, clock = FakeKube(), Clock()
    rule = {**RULE, "min_replicas": 0, "upscale_stabilization_period": "60s"}
    add_workers(kube, "story", {"MLSERVE_ASYNC_QUEUE": url}, replicas=1, rule=rule)
    ctl = Controller(kube, Config(namespace="ns"), clock=clock, scrape=lambda *a: None)
    requests = []
    for _ in range(4):  # idle: held for the downscale period (20 s), then 0
        requests.append(ctl.tick()["story-worker"].request)
        clock.now += 10
    assert requests == [1, 1, 0, 0] and kube.deployments["story-worker"]["spec"]["replicas"] == 0
    assert ctl.tick()["story-worker"].request == 0  # at zero and idle: still observed, stays there
    queue.put("wake", b"{}")
    clock.now += 10
    woken = ctl.tick()["story-worker"]
    assert woken.request == 1 and kube.scaled[-1] == ("story-worker", 1), woken


def test_a_worker_deployment_at_zero_without_min_replicas_0_is_left_alone(tmp_path):
    """Scaled to 0 by hand while its min_replicas is 1: stopped on purpose, not the autoscaler's to wake."""
    url = f"sqlite://{tmp_path / 'q.db'}"
    open_queue(url).put("waiting", b"{}")
    kube = FakeKube()
    add_workers(kube, "story", {"MLSERVE_ASYNC_QUEUE": url}, replicas=0)
    assert Controller(kube, Config(namespace="ns"), clock=Clock(), scrape=lambda *a: None).tick() == {}
