"""`--help` works on every command and subcommand (found from the typer app, not listed by hand)."""

from __future__ import annotations

import pytest
import typer
from cli_harness import invoke

from mlserve.cli.app import build_app


def _command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    # Typer's groups are not always click.Group subclasses: look for subcommands instead.
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += _command_paths(sub, (*path, name))
    return paths


PATHS = _command_paths(typer.main.get_command(build_app()))


def test_every_command_is_found():
    names = {" ".join(p) for p in PATHS}
    assert {"deploy", "logs", "predict", "env", "env set", "models", "models list"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "mlserve")
def test_help(path):
    result = invoke(*path, "--help")  # a crash (e.g. bad Rich markup) propagates as an exception
    assert result.exit_code == 0, result.output
    assert "Usage: mlserve" in result.output
    # Square brackets in help text are Rich markup: text in them vanishes or crashes.
    assert "[/" not in result.output


def test_env_set_help_shows_bracketed_text():
    out = "".join(invoke("env", "set", "--help").output.replace("│", "").split())  # undo the wrapping
    assert "host:port/path" in out and "(default:default)" in out
