"""Spec and predictor hashes change when, and only when, a restart is needed."""

from __future__ import annotations

from pathlib import Path

from mlserve.spec import load_project, predictor_hash, spec_hash

PREDICTOR = "class P:\n    def predict(self, payload):\n        return payload\n"


def project(tmp_path: Path, config: str = "{greeting: hi}", compute: str = "{cpu: 1}"):
    (tmp_path / "p.py").exists() or (tmp_path / "p.py").write_text(PREDICTOR)
    (tmp_path / "cortex.yaml").write_text(
        f"- name: a\n  predictor:\n    path: p.py\n    config: {config}\n  compute: {compute}\n"
        f"- name: b\n  predictor:\n    path: p.py\n"
    )
    return load_project(tmp_path / "cortex.yaml")


def hashes(p):
    return {a.name: (spec_hash(a), predictor_hash(a, p.root)) for a in p.apis}


def test_stable_across_loads_and_formatting(tmp_path):
    first = hashes(project(tmp_path))
    (tmp_path / "cortex.yaml").write_text(
        "# a comment\n- name: a\n  compute:\n    cpu: '1'\n  predictor:\n    config:\n      greeting: hi\n    path: p.py\n"
        "- predictor: {path: p.py}\n  name: b\n"
    )
    assert hashes(load_project(tmp_path / "cortex.yaml")) == first


def test_config_change_changes_only_that_api(tmp_path):
    before = hashes(project(tmp_path))
    after = hashes(project(tmp_path, config="{greeting: hello}"))
    assert after["a"][0] != before["a"][0] and after["a"][1] != before["a"][1]
    assert after["b"] == before["b"]


def test_compute_change_changes_spec_hash_not_predictor_hash(tmp_path):
    before = hashes(project(tmp_path))
    after = hashes(project(tmp_path, compute="{cpu: 2}"))
    assert after["a"][0] != before["a"][0]
    assert after["a"][1] == before["a"][1]


def test_code_change_changes_predictor_hash(tmp_path):
    before = hashes(project(tmp_path))
    (tmp_path / "p.py").write_text(PREDICTOR + "# changed\n")
    after = hashes(project(tmp_path))
    assert after["a"][1] != before["a"][1] and after["b"][1] != before["b"][1]
    assert after["a"][0] == before["a"][0]


def test_files_named_in_config_are_part_of_the_predictor(tmp_path):
    (tmp_path / "notes.md").write_text("v1")
    before = hashes(project(tmp_path, config="{reference: notes.md}"))
    (tmp_path / "notes.md").write_text("v2")
    after = hashes(project(tmp_path, config="{reference: notes.md}"))
    assert after["a"][1] != before["a"][1]
    assert after["b"] == before["b"]
