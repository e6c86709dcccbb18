"""The CLI's progress display: a Transient message is a status the next one replaces, any other a kept step."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.spinner import SPINNERS

from mlserve.cli import common
from mlserve.contract.progress import Transient, is_transient


def test_a_transient_is_known_by_its_type_not_by_its_text():
    assert is_transient(Transient("qa: loading 3s"))  # no ellipsis needed
    assert not is_transient("building image…")  # a plain str is a step, whatever it says
    assert Transient("x") == "x"  # still a str: any Callable[[str], None] takes it


def test_on_a_terminal_steps_are_printed_and_transients_go_to_the_spinner(monkeypatch):
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    monkeypatch.setattr(common, "stderr", lambda: console)
    with common.progress_display() as progress:
        progress("qa: starting on port 8000")
        progress("waiting for the registry…")  # a step that happens to end in an ellipsis
        progress(Transient("qa: loading 1s"))
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in buffer.getvalue().splitlines()]
    # The status line rich redraws in place: any frame of its spinner, since which frame shows
    # depends on how long after the status started the transient came (80 ms per frame).
    frames = SPINNERS["dots"]["frames"]
    spinner = [line for line in lines if any(frame in line for frame in frames)]
    assert "  qa: starting on port 8000" in lines and "  waiting for the registry…" in lines
    assert any("qa: loading 1s" in line for line in spinner)
    assert not any("qa: loading" in line for line in lines if line not in spinner)
