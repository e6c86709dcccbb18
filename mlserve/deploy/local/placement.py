"""Where and how one process of any kind runs locally: its port and its supervisor.

Every kind (kinds/) places its processes through this, so all of them get the same port rules
(pinned, stable across deploys, moved when another program took it) and the same crash safety
(intent recorded in `.mlserve/state.json` before anything starts or stops).
"""

from __future__ import annotations

import time

from mlserve.contract.progress import Progress
from mlserve.deploy.local import lifecycle
from mlserve.deploy.local.ports import DEFAULT_RANGE, allocate_port, port_is_free
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.errors import DeployError


class Placement:
    def __init__(self, state: StateDir, command: lifecycle.RuntimeCommand, *, grace: float | None = None,
                 port_range: tuple[int, int] = DEFAULT_RANGE) -> None:
        self.state, self.command, self.grace_override, self.port_range = state, command, grace, port_range

    def grace(self, rec: APIRecord | None) -> float:
        """Seconds a stopping process gets to finish in-flight requests before SIGKILL."""
        if self.grace_override is not None:
            return self.grace_override
        spec = rec.spec if rec else {}
        return float(spec.get("predictor", {}).get("request_timeout", 60.0)) + 5.0

    def restart(self, records: dict[str, APIRecord], rec: APIRecord, progress: Progress) -> None:
        """Stop whatever runs for `rec` and start a new supervisor on its port."""
        rec.phase, rec.last_update = "starting", time.time()
        records[rec.name] = rec
        self.state.save(records)  # intent first: a killed CLI leaves "starting" for the next deploy
        if rec.supervisor_pid:
            progress(f"{rec.name}: stopping the running version")
        lifecycle.stop(self.state, rec.name, (rec.supervisor_pid, rec.supervisor_started), self.grace(rec))
        if not port_is_free(rec.port):
            if rec.spec.get("networking", {}).get("local_port") is not None:
                raise DeployError(f"api '{rec.name}': port {rec.port} (networking.local_port) is in use by "
                                  "another program", hint="stop that program or pin another port")
            rec.port = self.free_port(records, rec.name)
            progress(f"{rec.name}: its port was taken by another program; moved to port {rec.port}")
        progress(f"{rec.name}: starting on port {rec.port}")
        lifecycle.launch(self.state, rec, self.command, self.grace(rec))
        rec.phase = "running"
        self.state.save(records)

    def remove(self, records: dict[str, APIRecord], name: str) -> None:
        rec = records[name]
        rec.phase = "stopping"
        self.state.save(records)
        lifecycle.stop(self.state, rec.name, (rec.supervisor_pid, rec.supervisor_started), self.grace(rec))
        del records[name]
        self.state.save(records)
        self.state.forget(name)
        self.state.models_file(name).unlink(missing_ok=True)

    def choose_port(self, name: str, pinned: int | None, old: APIRecord | None, records: dict[str, APIRecord]) -> int:
        """The port of `name`: `pinned` (networking.local_port) if set, else its old one, else a free one."""
        owners = {r.port: n for n, r in records.items() if n != name}
        if pinned is not None:
            if pinned in owners:
                raise DeployError(
                    f"api '{name}': networking.local_port {pinned} is already used by api '{owners[pinned]}'",
                    hint=f"pin another port, or delete '{owners[pinned]}' first (mlserve delete {owners[pinned]})",
                )
            return pinned
        if old is not None and old.port not in owners:
            return old.port  # stable across deploys
        return self.free_port(records, name)

    def free_port(self, records: dict[str, APIRecord], name: str) -> int:
        taken = {r.port for n, r in records.items() if n != name}
        port = allocate_port(taken, self.port_range, key=f"{self.state.path}:{name}")
        if port is None:
            low, high = self.port_range
            raise DeployError(f"no free port for api '{name}' between {low} and {high - 1}",
                              hint="stop some local servers, or pin one with networking.local_port")
        return port
