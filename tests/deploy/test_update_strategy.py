"""Rolling updates on the host network (strategy.py): replace pods in place unless cortex.yaml says
otherwise, refuse an explicit surge, and leave other environments as cortex.yaml asks."""

import pytest

from mlserve.deploy.environments import Environment
from mlserve.deploy.render import render_manifests
from mlserve.deploy.strategy import host_network_note
from mlserve.errors import SpecError
from mlserve.spec import load_project

KUBE = Environment(name="k", provider="kubernetes", registry="reg.example.com", namespace="serving")
HOST = KUBE.model_copy(update=dict(host_network=True))
API = "- name: qa\n  predictor: {path: p.py}\n"


def project(tmp_path, strategy: str = ""):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text(API + strategy)
    return load_project(tmp_path)


def rolling(p, env):
    (deployment,) = [o for o in render_manifests(p, env) if o["kind"] == "Deployment"]
    return deployment["spec"]["strategy"]["rollingUpdate"]


def test_the_defaults_stay_where_pods_have_their_own_network(tmp_path):
    p = project(tmp_path)
    assert rolling(p, KUBE) == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert host_network_note(p.apis[0], KUBE) is None


def test_the_host_network_replaces_pods_in_place_and_says_so(tmp_path):
    p = project(tmp_path)
    assert rolling(p, HOST) == {"maxSurge": 0, "maxUnavailable": 1}
    note = host_network_note(p.apis[0], HOST)
    assert note.startswith("qa: host network:") and "max_surge 0, max_unavailable 1" in note


def test_an_explicit_max_unavailable_is_kept(tmp_path):
    p = project(tmp_path, "  update_strategy: {max_unavailable: 50%}\n")
    assert rolling(p, HOST) == {"maxSurge": 0, "maxUnavailable": "50%"}
    assert "max_unavailable 50%" in host_network_note(p.apis[0], HOST)


def test_an_explicit_zero_surge_needs_no_note(tmp_path):
    p = project(tmp_path, "  update_strategy:\n    max_surge: 0\n    max_unavailable: 2\n")
    assert rolling(p, HOST) == {"maxSurge": 0, "maxUnavailable": 2}
    assert host_network_note(p.apis[0], HOST) is None


@pytest.mark.parametrize("strategy, field, line, fix", [
    ("  update_strategy:\n    max_unavailable: 0\n    max_surge: 1\n", "update_strategy.max_surge", 5, "max_surge: 0"),
    ("  update_strategy:\n    max_unavailable: 0%\n", "update_strategy.max_unavailable", 4, "max_unavailable to 1"),
])
def test_what_cannot_roll_on_the_host_network_is_refused_at_its_line(tmp_path, strategy, field, line, fix):
    p = project(tmp_path, strategy)
    assert rolling(p, KUBE)  # fine where pods have their own network
    with pytest.raises(SpecError) as caught:
        render_manifests(p, HOST)
    error = caught.value
    assert (error.file, error.line, error.api, error.field) == (str(p.file), line, "qa", field)
    assert "host network" in error.message and fix in error.hint
