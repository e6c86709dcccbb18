"""One tick of the autoscaler: observe every mlserve API of the namespace, decide, scale, remember.

Which pods are scraped is explicit: a pod is read at its address (status.podIP) only when that
address is inside the allow-list (MLSERVE_AUTOSCALER_SCRAPE_CIDRS, default: any). A pod outside
it counts as a replica but adds nothing to the in-flight total: use it where some pods' addresses
lead nowhere (nodes without a real network). A ready pod inside it whose /metrics cannot be read
is *missing*: that tick never scales the API down.

An AsyncAPI's worker Deployment is observed on its queue instead (Cortex's AsyncAPI rule): the
sample is the items waiting plus those in progress, so desired = ceil((waiting + in progress) /
target_replica_concurrency), through the same window, stabilization and step limits; with
`min_replicas: 0` the workers go to zero once the queue has been empty for the downscale period, and
the next waiting item brings one back on the next tick (the gateway is not scaled). The queue is
read with what the workers were given (their MLSERVE_ASYNC_QUEUE and AWS_* values); a queue that
cannot be read adds no sample, so the count is held.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from mlserve.autoscaler.algorithm import Decision, Observation, Settings, decide
from mlserve.autoscaler.kube import KubeAPI
from mlserve.autoscaler.state import CONTROLLER, APIState, key, load
from mlserve.contract import env
from mlserve.contract.labels import (
    API_COMPONENT,
    ASYNC_WORKER_COMPONENT,
    COMPONENT,
    MANAGED_BY,
    MANAGER,
    NAME,
    SCALED_BY,
    SPEC,
)
from mlserve.contract.metrics import summarize
from mlserve.errors import DeployError, MlserveError
from mlserve.queues import WorkQueue, open_queue
from mlserve.queues.aws import SETTINGS as AWS_SETTINGS
from mlserve.spec import Autoscaling

log = logging.getLogger("mlserve.autoscaler")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ANY = "0.0.0.0/0,::/0"


@dataclass(frozen=True)
class Config:
    namespace: str
    api_server: str | None = None  # None: the in-cluster service address
    scrape_networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in ANY.split(","))
    interval: float = 10.0  # seconds between ticks (Cortex: 10)
    scrape_timeout: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        namespace = environ.get(env.AUTOSCALER_NAMESPACE) or _service_account_namespace()
        if not namespace:
            raise DeployError(f"{env.AUTOSCALER_NAMESPACE} is not set", hint="set it to the namespace to scale")
        text = environ.get(env.AUTOSCALER_INTERVAL, "10")
        try:
            interval = float(text)
            assert interval > 0
        except (ValueError, AssertionError):
            raise DeployError(f"{env.AUTOSCALER_INTERVAL}: '{text}' is not a positive number of seconds",
                              hint=f"e.g. {env.AUTOSCALER_INTERVAL}=10") from None
        return cls(namespace=namespace, api_server=environ.get(env.AUTOSCALER_API_SERVER) or None,
                   scrape_networks=parse_networks(environ.get(env.AUTOSCALER_SCRAPE_CIDRS) or ANY),
                   interval=interval)


def parse_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise DeployError(f"scrape allow-list: '{part}' is not an address range",
                              hint="use CIDRs separated by commas, e.g. 127.0.0.0/8,10.0.0.0/8") from None
    return tuple(networks)


def _service_account_namespace() -> str | None:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    return open(path).read().strip() if os.path.isfile(path) else None


def allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in networks)


def scrape_in_flight(address: str, port: int, timeout: float) -> float | None:
    """The replica's in-flight requests from its /metrics, or None when it cannot be read."""
    host = f"[{address}]" if ":" in address else address
    try:
        response = httpx.get(f"http://{host}:{port}/metrics", timeout=timeout)
        response.raise_for_status()
        return summarize(response.text).in_flight
    except (httpx.HTTPError, ValueError):
        return None


def _ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


class Controller:
    def __init__(self, kube: KubeAPI, config: Config, *, clock: Callable[[], float] = time.time,
                 scrape: Callable[[str, int, float], float | None] = scrape_in_flight) -> None:
        self.kube, self.config, self.clock, self.scrape = kube, config, clock, scrape
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="scrape")
        self._queues: dict[tuple, WorkQueue] = {}  # opened once (an SQS queue's URL is looked up on open)

    def observe_queue(self, deployment: dict) -> tuple[float, ...]:
        """(waiting + in progress,) of an AsyncAPI's queue; () when it cannot be read."""
        name = deployment["metadata"]["name"]
        given = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []}
        url = given.get(env.ASYNC_QUEUE)
        if not url:
            log.error("%s: no %s in its pods' environment: its queue is unknown", name, env.ASYNC_QUEUE)
            return ()
        aws = {k: v for k, v in given.items() if k in AWS_SETTINGS and v}
        key = (url, tuple(sorted(aws.items())))
        try:
            queue = self._queues.get(key) or self._queues.setdefault(key, open_queue(url, aws))
            counts = queue.counts()
        except MlserveError as e:
            log.error("%s: cannot read its queue %s: %s", name, url, e)
            return ()
        return (float(counts.waiting + counts.in_flight),)

    def observe(self, pods: list[dict], port: int) -> tuple[tuple[float, ...], int]:
        """(in-flight of each replica read, number of ready replicas that should have been read but were not)."""
        addresses = [(p.get("status") or {}).get("podIP") for p in pods if _ready(p)]
        wanted = [a for a in addresses if allowed(a, self.config.scrape_networks)]
        values = list(self._pool.map(lambda a: self.scrape(a, port, self.config.scrape_timeout), wanted))
        read = tuple(v for v in values if v is not None)
        return read, len(values) - len(read)

    def tick(self) -> dict[str, Decision]:
        selector = f"{MANAGED_BY}={MANAGER},{COMPONENT}={API_COMPONENT}"
        workers = f"{MANAGED_BY}={MANAGER},{COMPONENT}={ASYNC_WORKER_COMPONENT}"
        deployments = self.kube.list("apps/v1", "deployments", selector) + self.kube.list("apps/v1", "deployments", workers)
        pods = self.kube.list("", "pods", selector)
        stored = load(self.kube.read_configmap(CONTROLLER))
        now = self.clock()
        decisions: dict[str, Decision] = {}
        changed: dict[str, str | None] = {}
        for deployment in deployments:
            name = deployment["metadata"]["name"]
            annotations = deployment["metadata"].get("annotations") or {}
            current = (deployment.get("spec") or {}).get("replicas", 1)
            labels = deployment["metadata"].get("labels") or {}
            if labels.get(SCALED_BY):
                continue  # scaled by an HPA: not ours to change
            on_queue = labels.get(COMPONENT) == ASYNC_WORKER_COMPONENT  # an AsyncAPI's workers
            try:
                settings = Settings.from_spec(Autoscaling.model_validate(json.loads(annotations[SPEC])["autoscaling"]),
                                              queue=on_queue)
            except (KeyError, ValueError, TypeError, ValidationError) as e:
                log.error("%s: no readable autoscaling spec in its %s annotation (%s): left alone", name, SPEC, e)
                continue
            if current == 0 and not (on_queue and settings.min_replicas == 0):
                continue  # stopped by hand (only workers that may idle at zero are woken from it)
            if on_queue:
                in_flight, missing = self.observe_queue(deployment), 0
            else:
                port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
                in_flight, missing = self.observe([p for p in pods if p["metadata"]["labels"].get(NAME) == name], port)
            before = stored.get(name, APIState())
            decision, history = decide(settings, before.history, Observation(now, current, in_flight, missing))
            log.info("%s: %s", name, decision.describe())
            if decision.request != current:
                try:
                    self.kube.scale(name, decision.request)
                except DeployError as e:  # e.g. deleted since the list: the others still get their turn
                    log.error("%s: scaling to %d failed: %s", name, decision.request, e)
                    continue
            changed[key(name)] = before.record(history, decision).to_text()
            decisions[name] = decision
        for gone in set(stored) - {d["metadata"]["name"] for d in deployments}:
            changed[key(gone)] = None
        if changed:
            self.kube.patch_configmap(CONTROLLER, changed)
        return decisions
