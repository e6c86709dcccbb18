"""Running `mlserve` in tests: in-process through typer's runner, or as a real subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

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


def read_until(proc: subprocess.Popen, wanted: Callable[[str], bool], count: int) -> list[str]:
    """The first `count` stdout lines for which `wanted` holds; fails if the command's output ends
    first (it exited), so a command that stops at once cannot pass for one that runs until Ctrl-C."""
    found: list[str] = []
    for line in proc.stdout:
        if wanted(line):
            found.append(line)
            if len(found) == count:
                return found
    raise AssertionError(f"the command ended (exit {proc.wait()}) after {len(found)} of the {count} lines "
                         f"expected:\n{proc.stderr.read()}")


def ctrl_c_ends_cleanly(proc: subprocess.Popen, timeout: float) -> None:
    """Send Ctrl-C; the command must still be running then, and exit 0 without a traceback."""
    assert proc.poll() is None, f"the command ended (exit {proc.returncode}) before Ctrl-C:\n{proc.stderr.read()}"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=timeout) == 0
    assert "Traceback" not in proc.stderr.read()
