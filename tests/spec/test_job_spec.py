"""`kind: BatchAPI` and `kind: TaskAPI` in cortex.yaml: loading, errors at file:line, hashes."""

from __future__ import annotations

from mlserve.spec import load_project, runtime_hash
from tests.spec.test_loader import error_of, write


def test_batch_and_task_apis_load_into_their_own_lists(tmp_path):
    (tmp_path / "b.py").write_text("class P:\n    def predict(self, payload, batch_id): pass\n")
    (tmp_path / "t.py").write_text("class Task:\n    def __call__(self, config): pass\n")
    project = load_project(write(tmp_path, "- name: b\n  kind: BatchAPI\n  predictor: {path: b.py, config: {x: 1}}\n"
                                           "- name: t\n  kind: TaskAPI\n  definition: {path: t.py}\n"))
    assert [b.name for b in project.batch_apis] == ["b"] and [t.name for t in project.task_apis] == ["t"]
    assert project.entry("b").endpoint == "/b" and project.entry("t").predictor.path == "t.py"
    before = runtime_hash(project.entry("t"), project.root)
    (tmp_path / "t.py").write_text("class Task:\n    def __call__(self, config): return 1\n")
    assert runtime_hash(project.entry("t"), project.root) != before  # the task's code decides a restart


def test_a_task_file_that_is_missing_is_named_at_its_line(tmp_path):
    spec = write(tmp_path, "- name: t\n  kind: TaskAPI\n  definition:\n    path: nope.py\n")
    assert error_of(spec).startswith(f"{spec}:4: api 't': definition.path: 'nope.py' does not exist")


def test_a_batch_api_takes_no_autoscaling_and_says_which_field(tmp_path):
    (tmp_path / "b.py").write_text("")
    spec = write(tmp_path, "- name: b\n  kind: BatchAPI\n  predictor: {path: b.py}\n  autoscaling: {min_replicas: 1}\n")
    assert "unknown field 'autoscaling'" in error_of(spec)


def test_a_job_api_name_may_not_repeat_an_api_name(tmp_path):
    (tmp_path / "b.py").write_text("")
    spec = write(tmp_path, "- name: b\n  predictor: {path: b.py}\n- name: b\n  kind: BatchAPI\n  predictor: {path: b.py}\n"
                           "  networking: {endpoint: /other}\n")
    assert "'b' is already the name of another entry" in error_of(spec)
