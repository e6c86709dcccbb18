"""The local backend: every API is a supervised process on 127.0.0.1 (see supervisor.py).

Deploy reconciles what runs with cortex.yaml: new APIs start; APIs whose runtime hash changed
restart on the same port from a new snapshot of their spec and files (snapshot.py); APIs where only
other fields changed (autoscaling, update strategy) are updated in the state record alone (same
pids, no refused request); unchanged ones are left alone; APIs removed from the file stop. Every
step records its intent in `.mlserve/state.json` first, so a deploy killed at any point is finished
by the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlserve import kinds
from mlserve.deploy.base import APIStatus, DeployResult, Progress
from mlserve.deploy.local import lifecycle, snapshot
from mlserve.deploy.local.files import follow_lines, tail_lines
from mlserve.deploy.local.lock import project_lock
from mlserve.deploy.local.placement import Placement
from mlserve.deploy.local.ports import DEFAULT_RANGE
from mlserve.deploy.local.procs import supervisors_of
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import DeployError, NotDeployed
from mlserve.spec import Project


class LocalBackend:
    def __init__(self, state: StateDir, *, runtime_command: lifecycle.RuntimeCommand = kinds.local_command,
                 grace: float | None = None, ready_timeout: float = 900.0, lock_timeout: float = 600.0,
                 port_range: tuple[int, int] = DEFAULT_RANGE) -> None:
        self.state, self.runtime_command = state, runtime_command
        self.ready_timeout, self.lock_timeout = ready_timeout, lock_timeout
        self.placement = Placement(state, runtime_command, grace=grace, port_range=port_range)

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
            entries = kinds.entries(project)
            wanted = {entry.name for _, entry in entries}
            # Only APIs deployed from this file are removed with it; other files in the folder keep theirs.
            for name in sorted(n for n, r in records.items() if n not in wanted and r.spec_file == str(project.file)):
                progress(f"{name}: stopping (removed from {project.file.name})")
                self.placement.remove(records, name)
                results.append(DeployResult(name, "deleted"))
            running = supervisors_of(self.state.path)
            for name in sorted(set(running) - set(records) - wanted):  # e.g. after state.json was lost
                progress(f"{name}: stopping (not deployed)")
                lifecycle.stop(self.state, name, (None, None), self.placement.grace(None))
            started = set()
            for kind, entry in entries:  # in the kinds' order: a splitter needs its APIs' ports
                action, restarted = kind.reconcile_local(self.placement, project, entry, records,
                                                         running.get(entry.name, []), force, progress)
                results.append(DeployResult(entry.name, action, records[entry.name].url))
                if restarted:
                    started.add(entry.name)
            snapshot.prune(self.state, records)
            lifecycle.wait_ready(self.state, records, [entry.name for _, entry in entries], started,
                                 self.ready_timeout, progress)
            reports: dict[str, list[dict]] = {}
            for kind in kinds.KINDS:
                reports.update(kind.after_ready(self.state, records, [entry.name for entry in kind.entries(project)]))
            for result in results:
                result.models = reports.get(result.api, [])
            return results

    def refresh(self, api: str, progress: Progress) -> DeployResult:
        self._record(self.state.load(), api)  # fail before creating .mlserve/ for nothing
        with self._locked(progress) as records:
            rec = self._record(records, api)
            if not rec.snapshot and kinds.of_spec(rec.spec).snapshots:
                raise DeployError(f"api '{api}' was deployed by an older mlserve that kept no snapshot of it",
                                  hint="run `mlserve deploy` once; refresh then restarts what was deployed")
            self.placement.restart(records, rec, progress)
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
                self.placement.remove(records, name)
            snapshot.prune(self.state, records)
            return [DeployResult(name, "deleted") for name in names]

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
        return [kinds.of_spec(records[name].spec).local_status(self.state, records[name], detail=detail)
                for name in names]

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
