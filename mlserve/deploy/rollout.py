"""Wait for Deployments to roll out, and explain failures in terms a user can act on.

`pod_problem` reads a pod (as the API returns it) and names what stops it: an image that
cannot be pulled, a container that exits (with its last log lines), or no node to run it on.
`pod_reason` is the short form `mlserve get` shows, for waiting pods too ("Unschedulable: 0/3
nodes are available: 3 Insufficient cpu.").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from mlserve.contract.labels import NAME
from mlserve.contract.progress import Progress, Transient
from mlserve.deploy.cluster import Cluster
from mlserve.errors import DeployError

# A pod may wait this long for a node (e.g. while a cluster autoscaler adds one) before it is an error.
UNSCHEDULABLE_GRACE_S = 90.0
LOG_LINES = 30
_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_CREATE = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the annotation `kubectl rollout restart` sets
UNSCHEDULABLE_HINT = ("lower compute (cpu, mem, gpu) in cortex.yaml, add nodes, or check the environment's "
                      "node_selector; on the host network a node runs one replica of each API")


@dataclass(frozen=True)
class PodProblem:
    pod: str
    message: str
    hint: str
    logs: bool = False  # the container ran: its log explains more
    previous: bool = False  # ...and the log is the previous (crashed) container's
    reason: str = ""  # Kubernetes' word for it, e.g. "CrashLoopBackOff: exit code 3 (Error)"
    crash_loop: bool = False  # it exited more than once: `mlserve get` says "error (crash loop)"


def _since(timestamp: str | None, now: float) -> float:
    if not timestamp:
        return 0.0
    return now - datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


def pod_problem(pod: dict, now: float | None = None) -> PodProblem | None:
    now = time.time() if now is None else now
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
        waiting, terminated = state.get("waiting") or {}, state.get("terminated")
        reason = waiting.get("reason") or ""
        if reason in _PULL:
            return PodProblem(name, f"cannot pull image {cs.get('image')}: {waiting.get('message') or reason}",
                              "check that the cluster's nodes can reach the registry and that the image was pushed",
                              reason=f"{reason}: {cs.get('image')}")
        if reason in _CREATE:
            return PodProblem(name, f"the container cannot start ({reason}): {waiting.get('message', '')}",
                              "check the predictor's env and the environment's settings", reason=reason)
        ended = terminated if terminated and terminated.get("exitCode") else last if last and last.get("exitCode") else None
        if ended:
            why = ended.get("reason") or "Error"
            crash_loop = cs.get("restartCount", 0) > 1
            looping = " and keeps restarting (crash loop)" if crash_loop else ""
            hint = ("the API ran out of memory: raise compute.mem in cortex.yaml" if why == "OOMKilled"
                    else "fix the cause shown in the log above and run `mlserve deploy` again")
            short = f"{reason or why}: exit code {ended.get('exitCode')}" + (f" ({why})" if reason else "")
            return PodProblem(name, f"the container exited with code {ended.get('exitCode')} ({why}){looping}",
                              hint, logs=True, previous=not terminated, reason=short, crash_loop=crash_loop)
    cond = _unschedulable(status)
    if cond and _since(cond.get("lastTransitionTime"), now) >= UNSCHEDULABLE_GRACE_S:
        return PodProblem(name, f"no node can run it: {cond.get('message')}", UNSCHEDULABLE_HINT,
                          reason=f"Unschedulable: {cond.get('message')}")
    return None


def _unschedulable(status: dict) -> dict | None:
    """The scheduler's PodScheduled=False condition of a pod no node can take (yet)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"
                 and c.get("status") == "False" and c.get("reason") == "Unschedulable"), None)


def pod_reason(pod: dict, now: float | None = None) -> str | None:
    """Why a pod does not serve, in a few words: its problem, or why it still waits (no node yet,
    ContainerCreating); None for a running pod."""
    problem = pod_problem(pod, now)
    if problem:
        return problem.reason
    status = pod.get("status") or {}
    if cond := _unschedulable(status):
        return f"Unschedulable: {cond.get('message')}"
    waiting = (((cs.get("state") or {}).get("waiting") or {}).get("reason")
               for cs in status.get("containerStatuses") or [])
    return next(filter(None, waiting), None)


def waiting_text(pod: dict) -> str:
    """'pod x is Pending: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.'"""
    why = pod_reason(pod)
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return f"pod {pod['metadata']['name']} is {phase}" + (f": {why}" if why else "")


def has_log(pod: dict) -> bool:
    """Whether a container of the pod ever started (a Pending pod has no log to read)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("running") or state.get("terminated") or (cs.get("lastState") or {}).get("terminated"):
            return True
    return False


def rollout_state(deployment: dict) -> tuple[bool, str]:
    """(done, 'ready/requested ready, n updated') from a Deployment's status."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    ready, updated = status.get("readyReplicas") or 0, status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    observed = (status.get("observedGeneration") or 0) >= deployment["metadata"].get("generation", 0)
    done = observed and updated == want and ready >= want and total == want
    return done, f"{ready}/{want} ready, {updated} updated"


def current_pods(cluster: Cluster, deployment: dict) -> list[dict]:
    """Pods of the Deployment's newest ReplicaSet (the ones a rollout waits for). An API's Deployments
    share its name label (an AsyncAPI's gateway and workers): a ReplicaSet is the Deployment's by owner."""
    name = deployment["metadata"]["name"]
    api = (deployment["metadata"].get("labels") or {}).get(NAME, name)
    revision = (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
    sets = [rs for rs in cluster.list_managed([("apps/v1", "ReplicaSet")], f"{NAME}={api}")
            if (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") == revision
            and any(o.get("name") == name for o in rs["metadata"].get("ownerReferences") or [{"name": name}])]
    if not sets:
        return []
    template_hash = sets[0]["metadata"]["labels"].get("pod-template-hash")
    return cluster.pods(f"{NAME}={api},pod-template-hash={template_hash}")


def explain(cluster: Cluster, api: str, problem: PodProblem) -> str:
    text = f"api '{api}': pod {problem.pod}: {problem.message}"
    if problem.logs:
        log = cluster.log(problem.pod, previous=problem.previous, tail=LOG_LINES).rstrip()
        if log:
            text += f"\n--- last log lines of {problem.pod} ---\n{log}"
    return text


def _why_waiting(cluster: Cluster, api: str) -> str:
    """' (pod x is Pending: Unschedulable: …)' for an API whose rollout ran out of time, if a pod says."""
    deployment = cluster.get("apps/v1", "Deployment", api)
    pods = [p for p in current_pods(cluster, deployment) if pod_reason(p)] if deployment else []
    return f" ({waiting_text(pods[0])})" if pods else ""


def wait_for_rollouts(cluster: Cluster, apis: list[str], progress: Progress, timeout: float,
                      poll: float = 1.0) -> None:
    """Block until every API's Deployment is rolled out; DeployError naming each that failed."""
    pending = list(apis)
    failures: list[tuple[str, PodProblem | None]] = []
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while pending:
        for api in list(pending):
            deployment = cluster.get("apps/v1", "Deployment", api)
            if deployment is None:
                failures.append((api, PodProblem("-", "its Deployment disappeared", "run `mlserve deploy` again")))
                pending.remove(api)
                continue
            done, state = rollout_state(deployment)
            if done:
                progress(f"{api}: ready ({state})")
                pending.remove(api)
                continue
            problem = next(filter(None, (pod_problem(p) for p in current_pods(cluster, deployment))), None)
            if problem:
                failures.append((api, problem))
                pending.remove(api)
            elif shown.get(api) != state:
                shown[api] = state
                progress(Transient(f"{api}: {state}…"))
        if pending and time.monotonic() > deadline:
            failures += [(api, None) for api in pending]
            break
        if pending:
            time.sleep(poll)
    if failures:
        parts, hints = [], []
        for api, problem in failures:
            if problem is None:
                parts.append(f"api '{api}': not ready after {timeout:.0f}s" + _why_waiting(cluster, api))
                hints.append("see `mlserve logs` for the API; raise the environment's rollout_timeout if it is slow")
            else:
                parts.append(explain(cluster, api, problem))
                hints.append(problem.hint)
        raise DeployError("\n".join(parts), hint="; ".join(dict.fromkeys(hints)))
