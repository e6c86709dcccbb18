"""`mlserve init [DIR]`: start a new project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlserve.cli.common import stdout
from mlserve.scaffold import api_name, write_project

NAME = "init"


def command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the project (default: here).")
                      ] = Path("."),
    api: Annotated[str | None, typer.Option("--api", help="The API's name (default: from DIR's name).",
                                            show_default=False)] = None,
) -> None:
    """Write a working project (a typed predictor, cortex.yaml, payload.json, a test); never overwrites files."""
    name = api or api_name(folder)
    out = stdout()
    for path in write_project(folder, name):
        out.print(f"wrote {path}", markup=False)
    cd = "" if folder == Path(".") else f"cd {folder} && "
    out.print(f"\nnext: {cd}mlserve deploy && mlserve predict {name} payload.json", markup=False, soft_wrap=True)
