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


def add_workers(kube: FakeKube, api: str, env: dict[str, str], replicas: int = 1) -> None:
    kube.deployments[f"{api}-worker"] = {
        "metadata": {"name": f"{api}-worker", "labels": {NAME: api, MANAGED_BY: "mlserve",
                                                        COMPONENT: ASYNC_WORKER_COMPONENT},
                     "annotations": {SPEC: json.dumps({"autoscaling": RULE})}},
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
