"""Running `mlserve` in tests: in-process through typer's runner, or as a real subprocess."""

from __future__ import annotations

import signal
import subprocess
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


def start_until_ctrl_c(*args: str) -> subprocess.Popen:
    """`mlserve ARGS` in a subprocess started with SIGINT ignored, as anything `cmd &` starts from a
    non-interactive shell (a CI runner) is: Ctrl-C must still end the commands that run until it."""
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def ctrl_c_ends_cleanly(proc: subprocess.Popen, timeout: float) -> None:
    """Send Ctrl-C; the command must exit 0 without a traceback."""
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=timeout) == 0
    assert "Traceback" not in proc.stderr.read()
