"""A multi-model API through the CLI: `deploy` reports each model (a missing one as failed, with exit
0 since the others serve), and `get API` lists the models with their state and versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
import yaml
from cli_harness import invoke
from local_harness import cleanup
from loopback import free_port

pytestmark = pytest.mark.timeout(180)
PREDICTOR = Path(__file__).resolve().parents[1] / "fixtures" / "predictors" / "multi_model.py"


def rows(output: str, title: str) -> dict[str, list[str]]:
    """{model: the rest of its row} of the models table under `title`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 2
    table = {}
    for line in lines[start:]:
        if not line.strip() or " " not in line.strip():
            break
        name, *rest = line.split()
        table[name] = rest
    return table


def test_deploy_reports_each_model_and_get_lists_them(tmp_path):
    folder = tmp_path / "project"
    (folder / "models" / "iris" / "1").mkdir(parents=True)
    (folder / "models" / "iris" / "1" / "value.txt").write_text("iris one")
    shutil.copy(PREDICTOR, folder / "multi_model.py")
    api = {"name": "zoo", "networking": {"local_port": free_port()},
           "predictor": {"type": "python", "path": "multi_model.py", "multi_model_reloading": {
               "paths": [{"name": "iris", "path": "models/iris"}, {"name": "rose", "path": "models/rose"}]}}}
    (folder / "cortex.yaml").write_text(yaml.safe_dump([api]))
    try:
        result = invoke("deploy", str(folder / "cortex.yaml"))
        assert result.exit_code == 0, result.output
        deployed = rows(result.stdout, "models of zoo")
        assert deployed["iris"][:2] == ["loaded", "1"], result.stdout
        assert deployed["rose"][0] == "failed" and "does not exist" in " ".join(deployed["rose"]), result.stdout
        assert "zoo: rose failed (the other models keep serving)" in result.stdout
        answer = httpx.post(f"http://127.0.0.1:{api['networking']['local_port']}/zoo", params={"model": "iris"},
                            timeout=30)
        assert answer.json()["value"] == "iris one"
        detail = invoke("get", "zoo", "--spec", str(folder / "cortex.yaml")).stdout
        listed = rows(detail, "models")
        assert listed["iris"][:2] == ["loaded", "1"] and listed["iris"][2] != "-", detail  # last used
        assert listed["rose"][0] == "failed", detail
    finally:
        assert cleanup(folder) == [], "processes were left behind after delete"
