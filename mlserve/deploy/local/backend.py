"""The local backend: every API is a supervised process on 127.0.0.1 (see supervisor.py).

Deploy reconciles what runs with cortex.yaml: new APIs start; APIs whose runtime hash changed
restart on the same port from a new snapshot of their spec and files (snapshot.py); APIs where only
other fields changed (autoscaling, update strategy) are updated in the state record alone (same
pids, no refused request); unchanged ones are left alone; APIs removed from the file stop. Every
step records its intent in `.mlserve/state.json` first, so a deploy killed at any point is finished
by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlserve.deploy.base import APIStatus, DeployResult, Progress
from mlserve.deploy.local import lifecycle, snapshot, splitters
from mlserve.deploy.local.files import follow_lines, tail_lines
from mlserve.deploy.local.lock import project_lock
from mlserve.deploy.local.ports import DEFAULT_RANGE, allocate_port, port_is_free
from mlserve.deploy.local.procs import is_alive, supervisors_of
from mlserve.deploy.local.report import api_status
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.deploy.pins import pinned_env
from mlserve.errors import DeployError, NotDeployed
from mlserve.spec import APISpec, Project, runtime_hash, spec_hash


class LocalBackend:
    def __init__(self, state: StateDir, *, runtime_command: lifecycle.RuntimeCommand = lifecycle.runtime_command,
                 grace: float | None = None, ready_timeout: float = 900.0, lock_timeout: float = 600.0,
                 port_range: tuple[int, int] = DEFAULT_RANGE) -> None:
        self.state, self.runtime_command = state, runtime_command
        self.grace, self.ready_timeout, self.lock_timeout = grace, ready_timeout, lock_timeout
        self.port_range = port_range

    def _grace(self, rec: APIRecord | None) -> float:
        """Seconds a stopping API gets to finish in-flight requests before SIGKILL."""
        if self.grace is not None:
            return self.grace
        spec = rec.spec if rec else {}
        return float(spec.get("predictor", {}).get("request_timeout", 60.0)) + 5.0

    @classmethod
    def for_project(cls, project_file: Path, **options: object) -> LocalBackend:
        return cls(StateDir.for_project(project_file), **options)

    @contextmanager
    def _locked(self, progress: Progress) -> Iterator[dict[str, APIRecord]]:
        with project_lock(self.state.lock_file, self.lock_timeout, progress):
            yield self.state.load()

    # --- changing what runs -------------------------------------------------------------

    def deploy(self, project: Project, progress: Progress, *, force: bool = False) -> list[DeployResult]:
        with self._locked(progress) as records:
            results = []
            wanted = {api.name for api in project.apis} | {s.name for s in project.splitters}
            # Only APIs deployed from this file are removed with it; other files in the folder keep theirs.
            for name in sorted(n for n, r in records.items() if n not in wanted and r.spec_file == str(project.file)):
                progress(f"{name}: stopping (removed from {project.file.name})")
                self._remove(records, name)
                results.append(DeployResult(name, "deleted"))
            running = supervisors_of(self.state.path)
            for name in sorted(set(running) - set(records) - wanted):  # e.g. after state.json was lost
                progress(f"{name}: stopping (not deployed)")
                lifecycle.stop(self.state, name, (None, None), self._grace(None))
            started = set()
            for api in project.apis:
                action, restarted = self._reconcile(project, api, records, running.get(api.name, []), force,
                                                    progress)
                results.append(DeployResult(api.name, action, records[api.name].url))
                if restarted:
                    started.add(api.name)
            for splitter in project.splitters:  # after the APIs: their ports are known now
                action = splitters.reconcile(self, project, splitter, records, running.get(splitter.name, []),
                                             force, progress)
                results.append(DeployResult(splitter.name, action, records[splitter.name].url))
                if action != "unchanged":
                    started.add(splitter.name)
            snapshot.prune(self.state, records)
            lifecycle.wait_ready(self.state, records, [a.name for a in project.apis + project.splitters],
                                 started, self.ready_timeout, progress)
            splitters.wait_applied(self.state, records, [s.name for s in project.splitters])
            return results

    def refresh(self, api: str, progress: Progress) -> DeployResult:
        self._record(self.state.load(), api)  # fail before creating .mlserve/ for nothing
        with self._locked(progress) as records:
            rec = self._record(records, api)
            if not rec.snapshot and not splitters.is_splitter(rec):  # a splitter reads only its routing table
                raise DeployError(f"api '{api}' was deployed by an older mlserve that kept no snapshot of it",
                                  hint="run `mlserve deploy` once; refresh then restarts what was deployed")
            self._restart(records, rec, progress)
            lifecycle.wait_ready(self.state, records, [api], {api}, self.ready_timeout, progress)
            return DeployResult(api, "updated", rec.url)

    def delete(self, api: str | None, progress: Progress) -> list[DeployResult]:
        if not self.state.load() and api is None:
            return []
        if api is not None:
            self._record(self.state.load(), api)  # fail before creating .mlserve/ for nothing
        with self._locked(progress) as records:
            names = [self._record(records, api).name] if api else sorted(records)
            for name in names:
                progress(f"{name}: stopping")
                self._remove(records, name)
            snapshot.prune(self.state, records)
            return [DeployResult(name, "deleted") for name in names]

    def _reconcile(self, project: Project, api: APISpec, records: dict[str, APIRecord],
                   running: list[tuple[int, float]], force: bool, progress: Progress) -> tuple[str, bool]:
        """Bring one API in line with the spec; returns (action, whether it was (re)started)."""
        old = records.get(api.name)
        pins = pinned_env(api)  # the s3:// model versions this deploy fixes
        wanted = runtime_hash(api, project.root, pins)
        # Compared with what actually runs: the recorded supervisor (alone) and its intact snapshot.
        if (old and not force and old.phase == "running" and old.spec_file == str(project.file)
                and [pid for pid, _ in running] == [old.supervisor_pid]
                and is_alive(old.supervisor_pid, old.supervisor_started)
                and snapshot.runs_unchanged(old, wanted)
                and self._choose_port(api, old, records) == old.port):
            if old.spec_hash == spec_hash(api):
                return "unchanged", False
            # Only fields the process never reads changed: the record is all there is to update.
            progress(f"{api.name}: updated in place (its process does not read what changed)")
            old.spec, old.spec_hash, old.last_update = api.model_dump(mode="json"), spec_hash(api), time.time()
            self.state.save(records)
            return "updated", False
        digest, folder = snapshot.take(self.state, project, api, pins)
        rec = APIRecord(
            name=api.name, port=self._choose_port(api, old, records), endpoint=api.endpoint,
            spec_file=str(project.file), spec_hash=spec_hash(api), runtime_hash=digest, snapshot=str(folder),
            supervisor_pid=old.supervisor_pid if old else None,
            supervisor_started=old.supervisor_started if old else None,
            spec=api.model_dump(mode="json"),
        )
        self._restart(records, rec, progress)
        return ("created" if old is None else "updated"), True

    def _restart(self, records: dict[str, APIRecord], rec: APIRecord, progress: Progress) -> None:
        """Stop whatever runs for `rec` and start a new supervisor on its port."""
        rec.phase, rec.last_update = "starting", time.time()
        records[rec.name] = rec
        self.state.save(records)  # intent first: a killed CLI leaves "starting" for the next deploy
        if rec.supervisor_pid:
            progress(f"{rec.name}: stopping the running version")
        lifecycle.stop(self.state, rec.name, (rec.supervisor_pid, rec.supervisor_started), self._grace(rec))
        if not port_is_free(rec.port):
            if rec.spec.get("networking", {}).get("local_port") is not None:
                raise DeployError(f"api '{rec.name}': port {rec.port} (networking.local_port) is in use by "
                                  "another program", hint="stop that program or pin another port")
            rec.port = self._free_port(records, rec.name)
            progress(f"{rec.name}: its port was taken by another program; moved to port {rec.port}")
        progress(f"{rec.name}: starting on port {rec.port}")
        lifecycle.launch(self.state, rec, self.runtime_command, self._grace(rec))
        rec.phase = "running"
        self.state.save(records)

    def _remove(self, records: dict[str, APIRecord], name: str) -> None:
        rec = records[name]
        rec.phase = "stopping"
        self.state.save(records)
        lifecycle.stop(self.state, rec.name, (rec.supervisor_pid, rec.supervisor_started), self._grace(rec))
        del records[name]
        self.state.save(records)
        self.state.forget(name)

    def _choose_port(self, api: APISpec, old: APIRecord | None, records: dict[str, APIRecord]) -> int:
        pinned = api.networking.local_port
        owners = {r.port: n for n, r in records.items() if n != api.name}
        if pinned is not None:
            if pinned in owners:
                raise DeployError(
                    f"api '{api.name}': networking.local_port {pinned} is already used by api '{owners[pinned]}'",
                    hint=f"pin another port, or delete '{owners[pinned]}' first (mlserve delete {owners[pinned]})",
                )
            return pinned
        if old is not None and old.port not in owners:
            return old.port  # stable across deploys
        return self._free_port(records, api.name)

    def _free_port(self, records: dict[str, APIRecord], name: str) -> int:
        taken = {r.port for n, r in records.items() if n != name}
        port = allocate_port(taken, self.port_range, key=f"{self.state.path}:{name}")
        if port is None:
            low, high = self.port_range
            raise DeployError(f"no free port for api '{name}' between {low} and {high - 1}",
                              hint="stop some local servers, or pin one with networking.local_port")
        return port

    # --- reading ------------------------------------------------------------------------

    def _record(self, records: dict[str, APIRecord], api: str) -> APIRecord:
        if api in records:
            return records[api]
        deployed = ", ".join(sorted(records))
        raise NotDeployed(
            f"api '{api}' is not deployed from {self.state.path.parent}",
            hint=f"deployed here: {deployed}" if deployed else
            "run `mlserve deploy` first, or point at the project with --spec path/to/cortex.yaml",
        )

    def status(self, api: str | None = None, *, detail: bool = False) -> list[APIStatus]:
        records = self.state.load()
        names = [self._record(records, api).name] if api else sorted(records)
        return [(splitters.splitter_status if splitters.is_splitter(records[name]) else api_status)(
            self.state, records[name], detail=detail) for name in names]

    def logs(self, api: str, *, follow: bool = False, tail: int = 200) -> Iterator[str]:
        self._record(self.state.load(), api)  # raises now, not at the first line
        return self._log_lines(self.state.log_file(api), follow, tail)

    @staticmethod
    def _log_lines(path: Path, follow: bool, tail: int) -> Iterator[str]:
        yield from tail_lines(path, tail)
        if follow:
            yield from follow_lines(path)

    def endpoint(self, api: str) -> str:
        return self._record(self.state.load(), api).url
