"""`kind: TrafficSplitter`: one endpoint spreading requests over RealtimeAPIs by weight.

Locally a supervised `python -m mlserve.splitter` reading a routing table file
(deploy/local/splitters.py); on a cluster a Deployment + Service (deploy/splitter_manifests.py), or
an Istio VirtualService where the cluster serves that kind (deploy/istio.py).
"""

from __future__ import annotations

from mlserve.contract.kind import Kind
from mlserve.contract.labels import SPLITTER_COMPONENT
from mlserve.contract.metrics import Summary
from mlserve.contract.progress import Progress
from mlserve.contract.status import Status
from mlserve.deploy.base import Action, APIStatus
from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import render_virtual_service
from mlserve.deploy.local import splitters
from mlserve.deploy.local.placement import Placement
from mlserve.deploy.local.report import api_status
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.deploy.metrics import scrape
from mlserve.deploy.splitter_manifests import render_splitter
from mlserve.kinds.base import WorkloadKind
from mlserve.spec import Project, TrafficSplitterSpec


class TrafficSplitter(WorkloadKind):
    kind = Kind.TRAFFIC_SPLITTER
    model = TrafficSplitterSpec
    component = SPLITTER_COMPONENT
    snapshots = False  # it reads only its routing table

    def entries(self, project: Project) -> list[TrafficSplitterSpec]:
        return project.splitters

    def command(self, rec: APIRecord) -> list[str]:
        return splitters.splitter_command(rec)

    def reconcile_local(self, placement: Placement, project: Project, splitter: TrafficSplitterSpec,
                        records: dict[str, APIRecord], running: list[tuple[int, float]], force: bool,
                        progress: Progress) -> tuple[Action, bool]:
        action = splitters.reconcile(placement, project, splitter, records, running, force, progress)
        return action, action != "unchanged"

    def after_ready(self, state: StateDir, records: dict[str, APIRecord], names: list[str]) -> dict[str, list[dict]]:
        splitters.wait_applied(state, records, names)
        return {}

    def local_status(self, state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
        """An API's status plus, per API behind it, its weight and the requests the splitter sent it."""
        row = api_status(state, rec, detail=detail)
        self.describe(row, rec.spec, scrape(rec.port) if row.status == Status.LIVE else None)
        return row

    def render(self, splitter: TrafficSplitterSpec, project: Project, env: Environment, *, image: str,
               ports: dict[str, int], hpa_version: str, dependencies: str, istio: bool) -> list[dict]:
        if istio:
            return [render_virtual_service(splitter, project, env)]
        return render_splitter(splitter, project, env, image=image, ports=ports, dependencies=dependencies)

    def describe(self, row: APIStatus, spec: dict, summary: Summary | None) -> None:
        """`mlserve get`'s rows for a traffic splitter: each API behind it, its weight, requests sent."""
        sent = (summary and summary.by_backend) or {}
        row.kind = self.kind
        row.backends = [{"api": a["name"], "weight": a.get("weight") or 0, "shadow": a.get("shadow", False),
                         "requests": sent.get(a["name"], 0)} for a in spec.get("apis", [])]
