"""What the commands share: the --env/--spec options, backend lookup, consoles, progress."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlserve.contract.progress import Progress, is_transient

EnvOption = Annotated[str | None, typer.Option(
    "--env", "-e", metavar="NAME", show_default=False,
    help="Environment to use (default: $MLSERVE_ENV, else your default environment, normally 'local'; "
         "see `mlserve env`).",
)]
_SPEC_HELP = ("The project's cortex.yaml (or its folder). Local state lives in .mlserve/ beside it. "
              "Default: ./cortex.yaml")
SpecOption = Annotated[Path, typer.Option("--spec", "-f", metavar="PATH", show_default=False, help=_SPEC_HELP)]
# `logs` keeps -f for --follow, as `tail -f` and `kubectl logs -f` do.
SpecLongOption = Annotated[Path, typer.Option("--spec", metavar="PATH", show_default=False, help=_SPEC_HELP)]
DEFAULT_SPEC = Path("cortex.yaml")


def ctrl_c_ends_it() -> None:
    """Make Ctrl-C raise KeyboardInterrupt, for commands that run until it (`logs -f`, `get -w`),
    even when the process was started with SIGINT ignored: anything `cmd &` starts from a
    non-interactive shell (a CI runner's job, a script) is, and would then run forever."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def stdout() -> Console:
    # Piped output is not cut to 80 columns (rich's default without a terminal).
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=200 if wide else None)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


@contextmanager
def progress_display() -> Iterator[Progress]:
    """A Progress callback for backends. A `Transient` message is a status (a spinner on a
    terminal); any other message is a step, printed and kept."""
    console = stderr()
    if not console.is_terminal:
        yield _plain_progress(console)
        return
    with console.status("working…") as status:
        def show(message: str) -> None:
            if is_transient(message):
                status.update(message)
            else:
                console.print(f"  {message}", markup=False, highlight=False)
        yield show


def _plain_progress(console: Console) -> Progress:
    """Without a terminal, print each message once; a status is repeated only when its text
    (numbers aside) changes or every 30 s, so logs stay short."""
    last = {"key": None, "at": 0.0}

    def show(message: str) -> None:
        key = re.sub(r"\d+", "#", message)
        if key != last["key"] or time.monotonic() - last["at"] > 30:
            console.print(f"  {message}", markup=False, highlight=False, soft_wrap=True)
            last.update(key=key, at=time.monotonic())
    return show


def ago(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    seconds = max(0, int(time.time() - timestamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}ms" if value >= 10 else f"{value:.1f}ms"



def page_url(endpoint: str | None, static: str | None) -> str | None:
    """The URL of the page an API serves (networking.static): its endpoint with a trailing /."""
    return endpoint.rstrip("/") + "/" if endpoint and static else None


def models_table(rows: list[dict], title: str = "models") -> Table:
    """A multi-model API's models (deploy/metrics.py model_rows), as `deploy` and `get API` show them."""
    table = Table("model", "state", "versions", "last used", "detail", box=None, pad_edge=False,
                  title=title, title_justify="left")
    for m in rows:
        table.add_row(m["name"], Text(m["state"], style="red" if m["state"] == "failed" else ""),
                      ", ".join(str(v) for v in m["versions"]) or "-", ago(m["last_used"]),
                      Text(m["detail"]))
    return table
