"""What deploy reads of a multi-model API's pods on a cluster (deploy/cluster_models.py): which list
version each API's ConfigMap carries, and one row per model over several pods. The wait itself runs
against real pods in tests/e2e/test_multi_model_e2e.py."""

import json

from mlserve.deploy.cluster_models import listed_versions, merged_rows
from mlserve.deploy.environments import Environment
from mlserve.deploy.metrics import models_page
from mlserve.deploy.render import render_manifests
from mlserve.spec import load_project, models_document

SPEC = """\
- name: zoo
  predictor:
    path: p.py
    multi_model_reloading:
      paths: [{name: iris, path: s3://models/iris}]
- name: plain
  predictor:
    path: p.py
"""


def page(models: list[dict], listed: str = "v1") -> dict:
    """A pod's GET /models answer as deploy reads it (runtime/multimodel `describe` shape)."""
    return models_page(json.dumps({"list": listed, "models": models}))


def test_each_multi_model_api_is_waited_for_with_the_list_version_its_configmap_carries(tmp_path):
    (tmp_path / "cortex.yaml").write_text(SPEC)
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    project = load_project(tmp_path / "cortex.yaml")
    env = Environment(name="prod", provider="kubernetes", registry="r", namespace="serving")
    desired = render_manifests(project, env, image="r/x:1", hpa_version="autoscaling/v2")
    assert listed_versions(desired) == {"zoo": models_document(project.api("zoo"))["version"]}


def test_a_model_that_failed_in_one_pod_is_reported_failed_naming_the_pod():
    iris_loaded = {"name": "iris", "versions": [1], "latest": 1, "in_memory": [1], "on_disk": [1],
                   "load_seconds": {"1": 0.25}, "last_used": None}
    iris_failed = {"name": "iris", "versions": [1], "latest": 1, "in_memory": [], "on_disk": [],
                   "failed": {"1": "corrupt model in 1"}, "last_used": None}
    wine = {"name": "wine", "versions": [2], "latest": 2, "in_memory": [], "on_disk": [2], "last_used": None}
    rows = merged_rows([("zoo-a", page([iris_loaded, wine])), ("zoo-b", page([iris_failed, wine])),
                        ("zoo-c", None)])
    assert {r["name"]: (r["state"], r["detail"]) for r in rows} == {
        "iris": ("failed", "pod zoo-b: corrupt model in 1"),
        "wine": ("on disk", "version 2 in the model cache")}
    # One pod: its own rows, as `mlserve get API` showed them before.
    assert merged_rows([("zoo-a", page([iris_failed]))])[0]["detail"] == "corrupt model in 1"
