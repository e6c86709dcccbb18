"""Running `mlserve` in tests: in-process through typer's runner, or as a real subprocess."""

from __future__ import annotations

import sys

from click.testing import Result
from typer.testing import CliRunner

from mlserve.cli.app import build_app


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    """Run `mlserve ARGS` in-process. Unexpected exceptions propagate (they would be tracebacks
    for a user), so a test can never mistake a crash for exit code 1."""
    return CliRunner().invoke(build_app(), list(args), input=input,
                              catch_exceptions=False, prog_name="mlserve")


def command(*args: str) -> list[str]:
    """argv for `mlserve ARGS` in a subprocess."""
    return [sys.executable, "-m", "mlserve.cli", *args]
