"""`mlserve get [API]`: what runs, how it is doing."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecOption, ago, milliseconds, stdout
from mlserve.deploy.base import APIStatus
from mlserve.deploy.registry import backend_for

NAME = "get"
_STYLES = {"live": "green", "updating": "yellow"}


class Output(str, Enum):
    table = "table"
    json = "json"


def command(
    api: Annotated[str | None, typer.Argument(metavar="API", help="Show this API in detail.", show_default=False)] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.table,
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """List the deployed APIs (status, endpoint, requests, 2xx/4xx/5xx, p50/p99 latency), or one in detail."""
    statuses = backend_for(env, spec).status(api, detail=api is not None)
    out = stdout()
    if output is Output.json:
        data = [dataclasses.asdict(s) for s in statuses]
        out.print_json(json.dumps(data[0] if api else data))
    elif api:
        _detail(out, statuses[0])
    elif not statuses:
        out.print("no APIs deployed from this project (run `mlserve deploy`, or pass --spec path/to/cortex.yaml)",
                  markup=False)
    else:
        _table(out, statuses)


def _status_text(status: str) -> Text:
    return Text(status, style=_STYLES.get(status, "red"))


def _table(out: Console, statuses: list[APIStatus]) -> None:
    scaled = any(s.desired_replicas is not None for s in statuses)  # autoscaled backends: two more columns
    table = Table("api", "status", *(("replicas", "in-flight") if scaled else ()), "endpoint", "requests",
                  "2xx/4xx/5xx", "p50", "p99", "last update", box=None, pad_edge=False)
    for s in statuses:
        table.add_row(s.api, _status_text(s.status), *(_scaling(s) if scaled else ()), s.endpoint or "-",
                      str(s.requests), f"{s.responses_2xx}/{s.responses_4xx}/{s.responses_5xx}",
                      milliseconds(s.p50_ms), milliseconds(s.p99_ms), ago(s.last_update))
    out.print(table)


def _scaling(s: APIStatus) -> tuple[str, str]:
    """("ready/desired", in-flight average) as the table shows them."""
    return f"{s.ready_replicas}/{s.desired_replicas}", "-" if s.in_flight is None else f"{s.in_flight:.1f}"


def _detail(out: Console, s: APIStatus) -> None:
    out.print(Text.assemble(Text(s.api, style="bold"), "  ", _status_text(s.status)))
    facts = Table.grid(padding=(0, 2))
    for label, value in (("endpoint", s.endpoint or "-"), ("replicas", s.replicas or "-"),
                         ("requests", f"{s.requests} (2xx {s.responses_2xx}, 4xx {s.responses_4xx}, "
                                      f"5xx {s.responses_5xx})"),
                         ("latency", f"p50 {milliseconds(s.p50_ms)}, p99 {milliseconds(s.p99_ms)}"),
                         ("last update", ago(s.last_update))):
        facts.add_row(label, value)
    out.print(facts)
    if s.processes:
        columns = list(dict.fromkeys(k for row in s.processes for k in row))
        table = Table(*columns, box=None, pad_edge=False, title="processes", title_justify="left")
        for row in s.processes:
            table.add_row(*("-" if row.get(c) is None else str(row.get(c)) for c in columns))
        out.print(table)
    if s.spec:
        _section(out, "spec", yaml.safe_dump(s.spec, sort_keys=False).splitlines())
    if s.desired_replicas is not None:
        _section(out, "scaling decisions (newest first)", s.scaling or ["none yet"])
    _section(out, "recent errors", s.recent_errors or ["none"])
    _section(out, "last log lines", s.log_tail or ["(empty)"])


def _section(out: Console, title: str, lines: list[str]) -> None:
    out.print(f"\n[bold]{title}[/bold]")
    for line in lines:
        out.print(Text(f"  {line}"), soft_wrap=True)
