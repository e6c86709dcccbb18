"""`mlserve delete API | --all`: stop APIs and forget them."""

from __future__ import annotations

from typing import Annotated

import typer

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecOption, progress_display, stdout
from mlserve.client import Client

NAME = "delete"


def command(
    api: Annotated[str | None, typer.Argument(metavar="API", help="The API to delete.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete every API deployed from this project.")] = False,
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """Stop an API (or all of them) and forget it. Its entry in cortex.yaml is left as it is."""
    if (api is None) == (not all_):
        raise typer.BadParameter("name one API or pass --all (not both)", param_hint="API / --all")
    with progress_display() as progress:
        results = Client(env, spec, progress=progress).delete(None if all_ else api)
    out = stdout()
    if not results:
        out.print("nothing to delete: no APIs are deployed from this project")
    for result in results:
        out.print(f"{result.api}: deleted", markup=False)
