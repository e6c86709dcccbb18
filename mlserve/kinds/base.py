"""What a workload kind is to the backends: one object per kind (realtime.py, splitter.py, ...).

The local backend and the Kubernetes backend place any kind through this interface and name no
kind themselves; a kind's own modules hold what differs (its spec model, hashes, processes,
objects). What most kinds do the same (nothing outside the cluster, nothing extra to show) is
written once here, as defaults a kind overrides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mlserve.contract.kind import Kind
from mlserve.contract.metrics import Summary
from mlserve.contract.progress import Progress

if TYPE_CHECKING:  # the types of the backends' own records, for the signatures below
    from mlserve.deploy.base import Action, APIStatus
    from mlserve.deploy.cluster import Cluster
    from mlserve.deploy.environments import Environment
    from mlserve.deploy.local.placement import Placement
    from mlserve.deploy.local.state import APIRecord, StateDir
    from mlserve.spec import Project


class WorkloadKind(ABC):
    kind: Kind
    model: type[BaseModel]  # its cortex.yaml entry (spec/loader.py KINDS maps `kind:` to it)
    component: str  # the COMPONENT label of its Kubernetes objects
    snapshots: bool  # whether its local process runs from a snapshot of the project's files

    @abstractmethod
    def entries(self, project: Project) -> list:
        """Its entries in a loaded cortex.yaml."""

    # --- local: one supervised process per entry ------------------------------------------

    @abstractmethod
    def command(self, rec: APIRecord) -> list[str]:
        """The local process's command line."""

    @abstractmethod
    def reconcile_local(self, placement: Placement, project: Project, entry, records: dict[str, APIRecord],
                        running: list[tuple[int, float]], force: bool, progress: Progress) -> tuple[Action, bool]:
        """Bring one entry's process in line with the spec: (action, whether it must pass readiness again)."""

    @abstractmethod
    def after_ready(self, state: StateDir, records: dict[str, APIRecord], names: list[str]) -> dict[str, list[dict]]:
        """What a deploy waits for once the processes are ready (a routing table, a models list
        taken), and what it reports then: {entry: its models' rows} for multi-model APIs."""

    @abstractmethod
    def local_status(self, state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
        """`mlserve get`'s row for one local entry."""

    # --- Kubernetes -------------------------------------------------------------------------

    @abstractmethod
    def render(self, entry, project: Project, env: Environment, *, image: str, ports: dict[str, int],
               hpa_version: str, dependencies: str, istio: bool) -> list[dict]:
        """Its objects; `ports` holds every entry's container port."""

    def provision(self, entry, env: Environment, progress: Progress) -> None:
        """What the entry needs outside the cluster, made before its objects are applied (an AsyncAPI's queue);
        none by default."""
        return None

    def deprovision(self, name: str, objects: list[dict], env: Environment, progress: Progress) -> None:
        """After `mlserve delete` removed the entry's objects (`objects`): what goes or stays outside the cluster;
        nothing by default."""
        return None

    def describe(self, row: APIStatus, spec: dict, summary: Summary | None) -> None:
        """Add what only this kind shows to a `mlserve get` row (any backend): at the least, its kind."""
        row.kind = self.kind

    def describe_pods(self, row: APIStatus, cluster: Cluster, deployment: dict, pods: list[dict]) -> None:
        """Add to `mlserve get API`'s detail view on a cluster what the entry's ready `pods` answer
        (a job API's jobs), nothing by default; `row.spec` is its deployed spec."""
        return None
