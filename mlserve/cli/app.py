"""The `mlserve` command line: `app()` is the console script, `build_app()` the typer app.

One place turns library errors into what a user sees: an MlserveError prints
`error: <message>` and its hint on stderr and exits with its exit code (1), never a traceback.
Usage mistakes exit with 2 (click's convention).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

import mlserve
from mlserve.cli import delete, deploy, get, init, logs, predict, refresh
from mlserve.errors import MlserveError
from mlserve.extras import missing_extra

HELP = """Serve Predictor classes listed in cortex.yaml, locally or on Kubernetes.

[bold]Quick start[/bold] (in the folder holding cortex.yaml):

  [cyan]mlserve init my-api[/cyan]                  write a new project (then cd my-api)
  [cyan]mlserve deploy[/cyan]                       start every API, wait until ready
  [cyan]mlserve get[/cyan]                          status, endpoints, requests, latency
  [cyan]mlserve predict my-api payload.json[/cyan]  POST a payload and print the answer
  [cyan]mlserve logs my-api -f[/cyan]               follow an API's logs

get, logs, predict, refresh and delete act on ./cortex.yaml's project;
[cyan]--spec PATH[/cyan] picks another.
"""


class _Group(TyperGroup):
    """Every command runs through here: the one handler for mlserve's own errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlserveError as error:
            report(error)
            raise typer.Exit(error.exit_code) from None
        except ModuleNotFoundError as error:
            missing = missing_extra(error)  # an optional dependency: name the extra to install
            if missing is None:
                raise
            report(missing)
            raise typer.Exit(missing.exit_code) from None


def report(error: MlserveError) -> None:
    typer.echo(f"error: {error.message}", err=True)
    if error.hint:
        typer.echo(f"hint: {error.hint}", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlserve {mlserve.__version__}")
        raise typer.Exit()


def _main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Serve Predictor classes listed in cortex.yaml."""


def build_app() -> typer.Typer:
    app = typer.Typer(cls=_Group, help=HELP, no_args_is_help=True, add_completion=True,
                      rich_markup_mode="rich", pretty_exceptions_show_locals=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_main)
    for module in (init, deploy, get, logs, predict, refresh, delete):
        app.command(name=module.NAME)(module.command)
    app.command(name="finetune")(importlib.import_module("mlserve.cli.finetune").command)
    _mount(app, "env")
    _mount(app, "models")
    return app


def _mount(app: typer.Typer, name: str) -> None:
    """Add `mlserve <name>` from mlserve/cli/<name>.py (a typer app named `app`) when present."""
    try:
        module = importlib.import_module(f"mlserve.cli.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"mlserve.cli.{name}":
            return
        raise
    sub = getattr(module, "build_app", None)
    sub_app = sub() if callable(sub) else getattr(module, "app", None)
    if isinstance(sub_app, typer.Typer):
        app.add_typer(sub_app, name=name)


def app() -> None:
    """The `mlserve` console script."""
    build_app()(prog_name="mlserve")
