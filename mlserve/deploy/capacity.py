"""Refuse, before anything is built or applied, an API whose `compute` asks for more than any node
it may run on has (a pod that no node can take stays Pending for ever).

Nodes are the environment's (its node_selector), cordoned ones left out; where they cannot be
listed (RBAC without `list nodes`) or none match the selector, the check is skipped with a note.
"""

from __future__ import annotations

from decimal import Decimal

from mlserve.deploy.base import Progress
from mlserve.deploy.cluster import Cluster
from mlserve.deploy.environments import Environment
from mlserve.errors import SpecError, SpecErrors
from mlserve.spec import Project
from mlserve.spec.loader import field_error

GPU = "nvidia.com/gpu"
# compute field -> (node resource, how a quantity of it reads)
RESOURCES = {"cpu": ("cpu", lambda q: f"{q.normalize():f} CPUs"), "mem": ("memory", lambda q: _bytes(q)),
             "gpu": (GPU, lambda q: f"{q.normalize():f} GPUs")}


def _bytes(q: Decimal) -> str:
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if q >= size:
            return f"{(q / size).quantize(Decimal('0.1')).normalize():f}{unit}"
    return f"{q:f} bytes"


def _eligible(nodes: list[dict], env: Environment) -> list[dict]:
    want = env.node_selector.items()
    return [n for n in nodes if not (n.get("spec") or {}).get("unschedulable")
            and want <= ((n.get("metadata") or {}).get("labels") or {}).items()]


def check_capacity(cluster: Cluster, project: Project, env: Environment, progress: Progress) -> None:
    """SpecError naming each API and compute field that no eligible node can hold, with the largest
    node's allocatable amount."""
    from kubernetes.utils import parse_quantity

    requested = [(api, field, parse_quantity(value)) for api in project.served()
                 for field, value in (("cpu", api.compute.cpu), ("mem", api.compute.mem), ("gpu", api.compute.gpu))
                 if value]
    if not requested:
        return
    nodes = cluster.nodes()
    if nodes is None:
        progress("not checking compute against the nodes' capacity: this kubeconfig may not list nodes")
        return
    eligible = _eligible(nodes, env)
    if not eligible:
        selector = ",".join(f"{k}={v}" for k, v in env.node_selector.items())
        progress(f"not checking compute against the nodes' capacity: no schedulable node"
                 f"{' matches ' + selector if selector else ''} now")
        return
    errors: list[SpecError] = []
    for api, field, amount in requested:
        resource, shown = RESOURCES[field]
        sizes = [(parse_quantity(((n.get("status") or {}).get("allocatable") or {}).get(resource, "0")),
                  n["metadata"]["name"]) for n in eligible]
        largest, node = max(sizes, key=lambda s: s[0])
        if amount > largest:
            errors.append(field_error(
                project, api.name, f"compute.{field}",
                f"asks for {shown(amount)}, more than any node it may run on has: the largest, {node}, "
                f"has {shown(largest)} allocatable",
                hint=f"lower compute.{field} in cortex.yaml to at most {shown(largest)}, or add a larger node"
                     + (f" (or select other nodes: mlserve env set {env.name} --node-selector KEY=VALUE)"
                        if env.node_selector else "")))
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
