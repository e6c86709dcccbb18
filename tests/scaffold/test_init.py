"""`mlserve init`: the project it writes deploys at once, answers its sample payload, and its
own generated test passes; existing files are never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlserve.cli.app import build_app

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def mlserve(*args: str):
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False, prog_name="mlserve")


def test_init_deploy_predict_and_the_generated_test(tmp_path):
    folder = tmp_path / "word-counter"
    result = mlserve("init", str(folder))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["cortex.yaml", "payload.json", "predictor.py",
                                                        "test_predictor.py"]
    assert "mlserve predict word-counter payload.json" in result.stdout
    spec = str(folder / "cortex.yaml")
    try:
        assert mlserve("deploy", spec).exit_code == 0
        answer = mlserve("predict", "word-counter", str(folder / "payload.json"), "--spec", spec)
        assert json.loads(answer.stdout) == {"words": 3, "longest": "mlserve", "greeting": "hello"}
        bad = mlserve("predict", "word-counter", "-d", '{"text": ""}', "--spec", spec)
        assert bad.exit_code == 1 and "answered 422" in bad.stderr and "payload.text" in bad.stderr
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_predictor.py"],
                             cwd=folder, env=env, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1 passed" in run.stdout
        # The generated test left the deployment it found running.
        assert json.loads(mlserve("get", "-o", "json", "--spec", spec).stdout)[0]["status"] == "live"
    finally:
        mlserve("delete", "--all", "--spec", spec)


def test_init_refuses_to_overwrite(tmp_path):
    (tmp_path / "cortex.yaml").write_text("# mine\n")
    result = mlserve("init", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: not overwriting existing files: {tmp_path / 'cortex.yaml'}")
    assert (tmp_path / "cortex.yaml").read_text() == "# mine\n"
    assert not (tmp_path / "predictor.py").exists()


def test_a_folder_name_that_is_no_api_name(tmp_path):
    assert mlserve("init", str(tmp_path / "9 Lives")).exit_code == 0
    assert "- name: my-api" in (tmp_path / "9 Lives" / "cortex.yaml").read_text()
