"""The README's Python-client example runs as written, in a project made by `mlserve init demo`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from local_harness import cleanup

from mlserve.scaffold import write_project

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    section = (REPO / "README.md").read_text().split("## Python client", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_client_example_runs(tmp_path):
    write_project(tmp_path / "demo")
    try:
        run = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True,
                             timeout=150, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0].startswith("demo created http://127.0.0.1:")
        assert lines[1].startswith("{'words': 3, 'longest': 'mlserve', 'greeting': 'hello'} ")
        assert lines[2] == "live"
    finally:
        assert cleanup(tmp_path / "demo") == []
