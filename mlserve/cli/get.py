"""`mlserve get [API]`: what runs, how it is doing."""

from __future__ import annotations

import dataclasses
import json
import time
from enum import StrEnum
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlserve.cli.common import (
    DEFAULT_SPEC,
    EnvOption,
    SpecOption,
    ago,
    ctrl_c_ends_it,
    milliseconds,
    models_table,
    page_url,
    stdout,
)
from mlserve.client import Client
from mlserve.contract.kind import Kind
from mlserve.contract.status import Status
from mlserve.deploy.base import APIStatus

NAME = "get"
_STYLES = {Status.LIVE: "green", Status.UPDATING: "yellow", Status.RESTARTING: "yellow", Status.PENDING: "yellow"}


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


def command(
    api: Annotated[str | None, typer.Argument(metavar="API", help="Show this API in detail.", show_default=False)] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format (wide: every column, "
                                                                  "endpoints in full).")] = Output.table,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Show it again every --interval seconds "
                                                              "until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between --watch updates.")
                        ] = 2.0,
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """List the deployed APIs (status, endpoint, requests, 2xx/4xx/5xx, p50/p99 latency), or one in detail."""
    client = Client(env, spec)
    out = stdout()
    if not watch:
        _show(out, client, api, output)
        return
    ctrl_c_ends_it()
    try:
        while True:
            if out.is_terminal:
                out.clear()
            else:
                out.print(f"--- {time.strftime('%H:%M:%S')}", markup=False)
            _show(out, client, api, output)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --watch ends


def _show(out: Console, client: Client, api: str | None, output: Output) -> None:
    found = client.get(api)
    statuses = [found] if api else found
    if output in (Output.json, Output.yaml):
        # Through JSON: the Status and Kind enums become the plain strings YAML can write.
        data = json.loads(json.dumps([dataclasses.asdict(s) for s in statuses]))
        data = data[0] if api else data
        if output is Output.json:
            out.print_json(json.dumps(data))
        else:
            out.print(yaml.safe_dump(data, sort_keys=False).rstrip(), markup=False, soft_wrap=True)
    elif api:
        _detail(out, statuses[0])
    elif not statuses:
        out.print("no APIs deployed from this project (run `mlserve deploy`, or pass --spec path/to/cortex.yaml)",
                  markup=False)
    else:
        _table(out, statuses, wide=output is Output.wide)
        _splitters(out, statuses)
        _queues(out, statuses)


def _status_text(status: str) -> Text:
    return Text(status, style=_STYLES.get(status, "red"))


def _table(out: Console, statuses: list[APIStatus], wide: bool = False) -> None:
    """Endpoints are never cut: when the table does not fit the terminal they go below it, one
    per line; `wide` keeps them in the table at full length and adds replicas."""
    table = _rows(statuses, endpoints=True, wide=wide)
    needed = out.measure(table, options=out.options.update(width=10_000)).maximum
    if needed <= out.width:
        out.print(table)
        return
    if wide:  # wider than the terminal: lines wrap there, but no cell is cut
        Console(file=out.file, width=needed, highlight=False, force_terminal=out.is_terminal,
                no_color=out.no_color).print(table)
        return
    out.print(_rows(statuses, endpoints=False, wide=False))
    out.print()
    for s in statuses:
        out.print(f"{s.api}  {s.endpoint or '-'}", markup=False, soft_wrap=True)


def _rows(statuses: list[APIStatus], *, endpoints: bool, wide: bool) -> Table:
    scaled = any(s.desired_replicas is not None for s in statuses)  # autoscaled backends: two more columns
    reasons = any(s.reason for s in statuses)  # why an API is not live: last, where it may wrap
    columns = ["api", "status", *(["replicas", "in-flight"] if scaled else []),
               *(["endpoint"] if endpoints else []), "requests", "2xx/4xx/5xx", "p50", "p99", "last update",
               *(["replicas"] if wide and not scaled else []), *(["reason"] if reasons else [])]
    table = Table(*columns, box=None, pad_edge=False)
    for s in statuses:
        table.add_row(s.api, _status_text(s.status), *(_scaling(s) if scaled else ()),
                      *([s.endpoint or "-"] if endpoints else []), str(s.requests),
                      f"{s.responses_2xx}/{s.responses_4xx}/{s.responses_5xx}",
                      milliseconds(s.p50_ms), milliseconds(s.p99_ms), ago(s.last_update),
                      *([s.replicas or "-"] if wide and not scaled else []), *([s.reason or ""] if reasons else []))
    return table


def _splitters(out: Console, statuses: list[APIStatus]) -> None:
    splitters = [s for s in statuses if s.kind == Kind.TRAFFIC_SPLITTER]
    if splitters:
        table = Table("traffic splitter", "status", "endpoint", "apis: weight (requests sent)", box=None,
                      pad_edge=False, title="\ntraffic splitters", title_justify="left")
        for s in splitters:
            table.add_row(s.api, _status_text(s.status), s.endpoint or "-", _backends(s))
        out.print(table)


def _queues(out: Console, statuses: list[APIStatus]) -> None:
    queued = [s for s in statuses if s.queue is not None]
    if queued:
        table = Table("async api", "status", "workers", "waiting", "in progress", "failed", "oldest", box=None,
                      pad_edge=False, title="\nasync apis", title_justify="left")
        for s in queued:
            q = s.queue or {}
            # On a cluster: the worker Deployment's ready/desired replicas (locally: its processes, in detail).
            workers = "-" if s.desired_replicas is None else f"{s.ready_replicas}/{s.desired_replicas}"
            table.add_row(s.api, _status_text(s.status), workers, *(str(q.get(k, "-")) for k in (
                "waiting", "in_progress", "failed")), "-" if q.get("oldest_age_s") is None else f"{q['oldest_age_s']:g}s")
        out.print(table)


def _queue_text(q: dict) -> str:
    oldest = "" if q.get("oldest_age_s") is None else f", oldest {q['oldest_age_s']:g}s"
    return (f"{q.get('waiting', '-')} waiting, {q.get('in_progress', '-')} in progress, "
            f"{q.get('failed', '-')} failed{oldest}")


def _backends(s: APIStatus) -> str:
    # Splitters Istio runs have no counts of their own (requests None): Istio's telemetry has them.
    return "  ".join(f"{b['api']}: {'shadow' if b['shadow'] else str(b['weight']) + '%'}"
                     + ("" if b["requests"] is None else f" ({b['requests']})") for b in s.backends)


def _scaling(s: APIStatus) -> tuple[str, str]:
    """("ready/desired", in-flight average) as the table shows them."""
    return f"{s.ready_replicas}/{s.desired_replicas}", "-" if s.in_flight is None else f"{s.in_flight:.1f}"


def _detail(out: Console, s: APIStatus) -> None:
    out.print(Text.assemble(Text(s.api, style="bold"), "  ", _status_text(s.status)))
    facts = Table.grid(padding=(0, 2))
    page = page_url(s.endpoint, ((s.spec or {}).get("networking") or {}).get("static"))
    for label, value in (("endpoint", s.endpoint or "-"), *((("page", page),) if page else ()),
                         *((("reason", s.reason),) if s.reason else ()),
                         ("replicas", s.replicas or "-"),
                         ("requests", f"{s.requests} (2xx {s.responses_2xx}, 4xx {s.responses_4xx}, "
                                      f"5xx {s.responses_5xx})"),
                         ("latency", f"p50 {milliseconds(s.p50_ms)}, p99 {milliseconds(s.p99_ms)}"),
                         ("last update", ago(s.last_update)),
                         *((("apis", _backends(s)),) if s.backends else ()),
                         *((("queue", _queue_text(s.queue)),) if s.queue is not None else ())):
        facts.add_row(label, value)
    out.print(facts)
    if s.processes:
        columns = list(dict.fromkeys(k for row in s.processes for k in row))
        table = Table(*columns, box=None, pad_edge=False, title="processes", title_justify="left")
        for row in s.processes:
            table.add_row(*("-" if row.get(c) is None else str(row.get(c)) for c in columns))
        out.print(table)
    if s.kind in (Kind.BATCH_API, Kind.TASK_API):
        out.print(jobs_table(s.jobs))
    if s.models:
        out.print(models_table(s.models))
    if s.spec:
        _section(out, "spec", yaml.safe_dump(s.spec, sort_keys=False).splitlines())
    if s.desired_replicas is not None:
        _section(out, "scaling decisions (newest first)", s.scaling or ["none yet"])
    _section(out, "recent errors", s.recent_errors or ["none"])
    _section(out, "last log lines", s.log_tail or ["(empty)"])


_JOB_STYLES = {"succeeded": "green", "running": "yellow", "enqueuing": "yellow", "completed_with_failures": "yellow"}


def jobs_table(jobs: list[dict]) -> Table:
    """A job API's jobs: id, status, progress (batches done of total, failed), age."""
    table = Table("job id", "status", "progress", "failed", "age", box=None, pad_edge=False, title="jobs",
                  title_justify="left")
    for job in jobs:
        total = job.get("batches_total") or 0
        progress = f"{job.get('batches_succeeded', 0)}/{total}" if job.get("kind") != Kind.TASK_API else "-"
        status = Text(job["status"], style=_JOB_STYLES.get(job["status"], "red"))
        table.add_row(job["job_id"], status, progress, str(job.get("batches_failed", 0)), ago(job.get("created")))
    if not jobs:
        table.add_row("(none yet: submit one with `mlserve predict API job.json`)", "", "", "", "")
    return table


def _section(out: Console, title: str, lines: list[str]) -> None:
    out.print(f"\n[bold]{title}[/bold]")
    for line in lines:
        out.print(Text(f"  {line}"), soft_wrap=True)
