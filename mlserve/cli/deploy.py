"""`mlserve deploy [SPEC]`: make what runs match cortex.yaml."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlserve.cli.common import DEFAULT_SPEC, EnvOption, models_table, page_url, progress_display, stdout
from mlserve.client import Client
from mlserve.spec import load_project

NAME = "deploy"


class ManifestFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def command(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", show_default=False,
                                         help="cortex.yaml (or its folder); default ./cortex.yaml")] = DEFAULT_SPEC,
    force: Annotated[bool, typer.Option("--force", help="Restart every API, even unchanged ones.")] = False,
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the Kubernetes objects instead of deploying.")] = False,
    output: Annotated[ManifestFormat, typer.Option("--output", "-o", help="Format of --dry-run output.")
                      ] = ManifestFormat.yaml,
) -> None:
    """Start, restart or stop APIs so that what runs matches cortex.yaml, and wait until they are ready.

    New APIs start; APIs whose spec or predictor code changed restart (same port); unchanged ones are left alone; APIs removed from the file stop. Predictor paths are relative to the file's folder.
    """  # noqa: E501 (help shows each docstring line as a line)
    project = load_project(spec)
    if dry_run:
        _print_manifests(project, env, output)
        return
    with progress_display() as progress:
        results = Client(env, project.file, progress=progress).deploy(force=force, project=project)
    table = Table("api", "action", "endpoint", box=None, pad_edge=False)
    for result in results:
        table.add_row(result.api, result.action, result.endpoint or "-")
    out = stdout()
    out.print(table)
    statics = {api.name: api.networking.static for api in project.served()}
    for result in results:
        if result.models:
            out.print(models_table(result.models, title=f"\nmodels of {result.api}"))
        failed = [m["name"] for m in result.models if m["state"] == "failed"]
        if failed:
            out.print(f"{result.api}: {', '.join(failed)} failed (the other models keep serving); fix "
                      f"cortex.yaml or the files and deploy again, `mlserve logs {result.api}` shows why",
                      markup=False, soft_wrap=True)
    for result in results:
        if page := page_url(result.endpoint, statics.get(result.api)):
            out.print(f"\npage of {result.api}: {page}", markup=False, soft_wrap=True)
    live = [r for r in results if r.endpoint]
    if live:
        where = _env_flag(env)
        out.print(f"\ntry: mlserve predict {live[0].api}{where} payload.json"
                  f"\n     curl -X POST {live[0].endpoint} -H 'content-type: application/json' -d @payload.json"
                  f"\n     mlserve get{where}", markup=False, soft_wrap=True)


def _env_flag(env_name: str | None) -> str:
    """' --env NAME' where the commands that follow would otherwise reach another environment."""
    from mlserve.deploy.environments import get_environment, load_environments

    name = get_environment(env_name).name
    return "" if name == load_environments()[1] else f" --env {name}"


def _print_manifests(project, env_name: str | None, output: ManifestFormat) -> None:
    """The objects `deploy` would apply to the environment's cluster, rendered offline."""
    import json

    import yaml

    from mlserve.deploy.environments import get_environment
    from mlserve.deploy.render import render_manifests
    from mlserve.errors import EnvironmentConfigError
    from mlserve.image.context import build_context

    environment = get_environment(env_name)
    if environment.provider == "local":
        raise EnvironmentConfigError(f"--dry-run prints Kubernetes objects; environment '{environment.name}' is local",
                                     hint="pass --env with a kubernetes or aws environment (see `mlserve env list`)")
    context = build_context(project, environment.base_image)
    objects = render_manifests(project, environment, context=context)
    # What the image installs and why, as comments (yaml) or on stderr (json): stdout stays appliable.
    packages = [f"image {environment.base_image} + packages (requirement, why):",
                *(f"  {line}" for line in context.needs.listing())]
    if context.project_requirements is not None:
        packages.append("  + the project's requirements.txt")
    if output == ManifestFormat.json:
        typer.echo("\n".join(packages), err=True)
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        typer.echo("".join(f"# {line}\n" for line in packages), nl=False)
        typer.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
