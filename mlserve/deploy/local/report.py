"""`mlserve get` for local APIs: the supervisor's status file plus the runtime's metrics."""

from __future__ import annotations

from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus
from mlserve.deploy.local.files import tail_lines
from mlserve.deploy.local.procs import is_alive
from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.deploy.metrics import is_multi_model, scrape, scrape_models, scrape_recent_errors


def api_status(state: StateDir, rec: APIRecord, *, detail: bool) -> APIStatus:
    status = state.read_status(rec.name)
    if status.get("supervisor_pid") != rec.supervisor_pid:
        status = {}  # left by an earlier supervisor
    supervisor_alive = is_alive(rec.supervisor_pid, rec.supervisor_started)
    orphan_alive = not supervisor_alive and is_alive(status.get("child_pid"), status.get("child_started"))
    errors = list(status.get("errors", []))
    if rec.phase != "running" and not supervisor_alive:
        state_text = Status.ERROR
        errors.append(f"a deploy of this API was interrupted ({rec.phase}); run `mlserve deploy` to finish it")
    elif orphan_alive:
        # It still answers, but nothing restarts it any more and its output reaches no log.
        state_text = Status.DEGRADED
        errors.append(f"its supervisor (pid {rec.supervisor_pid}) is not running: the runtime "
                      f"(pid {status.get('child_pid')}) still answers, but its output is lost and nothing "
                      f"restarts it; run `mlserve deploy` or `mlserve refresh {rec.name}` to replace both")
    elif not supervisor_alive:
        state_text = Status.ERROR
        errors.append(f"its supervisor (pid {rec.supervisor_pid}) is not running; "
                      f"run `mlserve deploy` or `mlserve refresh {rec.name}` to start it again")
    else:
        state_text = Status(status.get("status", Status.UPDATING))

    result = APIStatus(
        api=rec.name, status=state_text, endpoint=rec.url,
        replicas="1/1" if state_text.serving else "0/1", last_update=rec.last_update,
    )
    if state_text == Status.LIVE:
        summary = scrape(rec.port)
        if summary is not None:
            result.requests = summary.requests
            result.responses_2xx = summary.by_class["2xx"]
            result.responses_4xx = summary.by_class["4xx"]
            result.responses_5xx = summary.by_class["5xx"]
            result.p50_ms, result.p99_ms = summary.p50_ms, summary.p99_ms
    if detail:
        result.spec = rec.spec
        result.processes = _processes(rec, status, supervisor_alive)
        result.recent_errors = errors + (scrape_recent_errors(rec.port) if state_text == Status.LIVE else [])
        result.log_tail = tail_lines(state.log_file(rec.name), 20)
        if state_text == Status.LIVE and is_multi_model(rec.spec):
            result.models = (scrape_models(rec.port) or {}).get("models", [])
    return result


def _processes(rec: APIRecord, status: dict, supervisor_alive: bool) -> list[dict]:
    rows = [{"role": "supervisor", "pid": rec.supervisor_pid,
             "state": "running" if supervisor_alive else "not running"}]
    child_alive = is_alive(status.get("child_pid"), status.get("child_started"))
    rows.append({
        "role": "runtime", "pid": status.get("child_pid"), "port": rec.port,
        "state": "running" if child_alive else "not running",
        "restarts": status.get("restarts", 0), "last_exit_code": status.get("last_exit_code"),
    })
    return rows
