"""`mlserve refresh API`: restart an API with its current spec."""

from __future__ import annotations

from typing import Annotated

import typer

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, SpecOption, progress_display, stdout
from mlserve.client import Client

NAME = "refresh"


def command(
    api: Annotated[str, typer.Argument(metavar="API", help="The API to restart.", show_default=False)],
    env: EnvOption = None,
    spec: SpecOption = DEFAULT_SPEC,
) -> None:
    """Restart an API with the spec it was deployed with (e.g. to reload a model), and wait until ready."""
    with progress_display() as progress:
        result = Client(env, spec, progress=progress).refresh(api)
    stdout().print(f"{result.api}: refreshed, live at {result.endpoint}", markup=False)
