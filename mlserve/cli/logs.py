"""`mlserve logs API [-f]`: an API's output."""

from __future__ import annotations

from typing import Annotated

import typer

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecLongOption, ctrl_c_ends_it
from mlserve.client import Client

NAME = "logs"


def command(
    api: Annotated[str, typer.Argument(metavar="API", help="The API whose logs to show.", show_default=False)],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    tail: Annotated[int, typer.Option("--tail", "-n", min=0, help="How many past lines to show.")] = 200,
    job: Annotated[str | None, typer.Option("--job", metavar="ID", show_default=False,
                                            help="A job's own log (BatchAPI / TaskAPI).")] = None,
    env: EnvOption = None,
    spec: SpecLongOption = DEFAULT_SPEC,
) -> None:
    """Show an API's logs: its predictor's output, requests, errors and restarts."""
    if job is not None:
        if follow:
            raise typer.BadParameter("--follow is not offered with --job yet", param_hint="--follow")
        for line in Client(env, spec).job_logs(api, job, tail=tail):
            typer.echo(line)
        return
    if follow:
        ctrl_c_ends_it()
    lines = Client(env, spec).logs(api, follow=follow, tail=tail)
    try:
        for line in lines:
            typer.echo(line)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how `logs -f` ends
