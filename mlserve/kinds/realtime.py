"""`kind: RealtimeAPI`: a predictor served over HTTP, one runtime process (local) or Deployment (cluster)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import BaseModel

from mlserve.contract.kind import Kind
from mlserve.contract.labels import API_COMPONENT
from mlserve.contract.progress import Progress
from mlserve.deploy.base import Action, APIStatus
from mlserve.deploy.environments import Environment
from mlserve.deploy.istio import mesh_env
from mlserve.deploy.local import models, snapshot
from mlserve.deploy.local.placement import Placement
from mlserve.deploy.local.procs import is_alive
from mlserve.deploy.local.report import api_status
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.deploy.manifests import render_api
from mlserve.deploy.metrics import is_multi_model
from mlserve.deploy.pins import pinned_env
from mlserve.kinds.base import WorkloadKind
from mlserve.spec import APISpec, Project, runtime_hash, spec_hash


class RealtimeAPI(WorkloadKind):
    kind = Kind.REALTIME_API
    model: type[BaseModel] = APISpec  # kinds that deploy like it (AsyncAPI, BatchAPI) name their own
    component = API_COMPONENT
    snapshots = True

    def entries(self, project: Project) -> list:
        return project.apis

    def command(self, rec: APIRecord) -> list[str]:
        """The runtime serves the deployed snapshot (restarts included), never the working tree, and a
        multi-model API the deployed models list."""
        listed = ["--models", str(StateDir.for_project(Path(rec.spec_file)).models_file(rec.name))] \
            if is_multi_model(rec.spec) else []
        return [sys.executable, "-m", "mlserve.runtime", "--spec", str(snapshot.spec_file(rec.snapshot)),
                "--api", rec.name, "--host", "127.0.0.1", "--port", str(rec.port), *listed]

    def reconcile_local(self, placement: Placement, project: Project, api: APISpec, records: dict[str, APIRecord],
                        running: list[tuple[int, float]], force: bool, progress: Progress) -> tuple[Action, bool]:
        old = records.get(api.name)
        pins = pinned_env(api)  # the s3:// model versions this deploy fixes
        wanted = runtime_hash(api, project.root, pins)
        port = placement.choose_port(api.name, api.networking.local_port, old, records)
        models.write(placement.state, project, api)  # the running process takes a new list without a restart
        # Compared with what actually runs: the recorded supervisor (alone) and its intact snapshot.
        if (old and not force and old.phase == "running" and old.spec_file == str(project.file)
                and [pid for pid, _ in running] == [old.supervisor_pid]
                and is_alive(old.supervisor_pid, old.supervisor_started)
                and snapshot.runs_unchanged(old, wanted) and port == old.port):
            if old.spec_hash == spec_hash(api):
                return "unchanged", False
            # Only fields the process never reads at start changed: the record is all there is to update.
            progress(f"{api.name}: new models list, applied without a restart" if models.list_changed(old, api)
                     else f"{api.name}: updated in place (its process does not read what changed)")
            old.spec, old.spec_hash, old.last_update = api.model_dump(mode="json"), spec_hash(api), time.time()
            placement.state.save(records)
            return "updated", False
        digest, folder = snapshot.take(placement.state, project, api, pins)
        rec = APIRecord(
            name=api.name, port=port, endpoint=api.endpoint,
            spec_file=str(project.file), spec_hash=spec_hash(api), runtime_hash=digest, snapshot=str(folder),
            supervisor_pid=old.supervisor_pid if old else None,
            supervisor_started=old.supervisor_started if old else None,
            spec=api.model_dump(mode="json"),
        )
        placement.restart(records, rec, progress)
        return ("created" if old is None else "updated"), True

    def after_ready(self, state: StateDir, records: dict[str, APIRecord], names: list[str]) -> dict[str, list[dict]]:
        """A multi-model API's models, once it serves the list this deploy wrote."""
        return {name: models.wait_applied(state, records[name]) for name in names
                if is_multi_model(records[name].spec)}

    def local_status(self, state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
        """The process's row, of this kind (the kinds that extend this one add what is theirs)."""
        row = api_status(state, rec, detail=detail)
        row.kind = self.kind
        return row

    def render(self, api: APISpec, project: Project, env: Environment, *, image: str, ports: dict[str, int],
               hpa_version: str, dependencies: str, istio: bool) -> list[dict]:
        return render_api(api, project, env, image=image, port=ports[api.name], hpa_version=hpa_version,
                          dependencies=dependencies, extra_env=mesh_env() if istio else None)
