"""cortex.yaml loading: exact messages with file:line, field path, api name, and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlserve.errors import SpecError, SpecErrors
from mlserve.spec import load_project

PREDICTOR = "class P:\n    def __init__(self, config):\n        pass\n\n    def predict(self, payload):\n        return payload\n"


def write(tmp_path: Path, yaml_text: str) -> Path:
    (tmp_path / "p.py").write_text(PREDICTOR)
    spec = tmp_path / "cortex.yaml"
    spec.write_text(textwrap.dedent(yaml_text).lstrip())
    return spec


def error_of(spec: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_project(spec)
    return str(info.value)


def test_defaults_follow_cortex(tmp_path):
    spec = write(tmp_path, """
        - name: echo
          predictor:
            path: p.py
            processes_per_replica: 2
            threads_per_process: 3
    """)
    project = load_project(spec)
    api = project.api("echo")
    assert project.root == tmp_path.resolve()
    assert api.kind == "RealtimeAPI"
    assert api.endpoint == "/echo"
    assert api.autoscaling.min_replicas == 1
    assert api.autoscaling.max_replicas == 100
    assert api.autoscaling.init_replicas == 1
    assert api.autoscaling.target_replica_concurrency == 6.0
    assert api.autoscaling.max_replica_concurrency == 1024
    assert api.autoscaling.window == "60s"
    assert api.update_strategy.max_surge == "25%"
    assert api.update_strategy.max_unavailable == "25%"
    assert api.compute.gpu == 0
    assert api.predictor.server_side_batching is None


def test_folder_argument_reads_cortex_yaml(tmp_path):
    write(tmp_path, "- name: a\n  predictor: {path: p.py}\n")
    assert [a.name for a in load_project(tmp_path).apis] == ["a"]


# (cortex.yaml, how the message starts, what else it says); "{spec}" is the file's path.
ERRORS = [
    pytest.param("""
        - name: echo
          predictor: {path: p.py}
        - name: qa
          predictor: {path: p.py}
          autoscaling:
            max_replicas: 2
            min_replicas: 5
    """, "{spec}:7: api 'qa': autoscaling.min_replicas (5) must be <= max_replicas (2)", [], id="min-above-max"),
    pytest.param("""
        - name: qa
          predictor: {path: p.py}
          autoscaling: {min_replicas: 1, max_replicas: 3, init_replicas: 4}
    """, "{spec}:3: api 'qa': autoscaling.init_replicas (4) must be between min_replicas (1) and max_replicas (3)",
        [], id="init-outside-min-max"),
    pytest.param("""
        - name: qa
          predictor: {path: p.py}
          autoscaling:
            min_replicas: 0
    """, "{spec}:4: api 'qa': autoscaling.min_replicas (0) must be at least 1 for a RealtimeAPI",
        ["nothing starts a replica when a request comes",
         "hint: use min_replicas: 1, or kind: AsyncAPI to scale to zero"], id="realtime-cannot-wake-from-zero"),
    pytest.param("""
        - name: qa
          predictor:
            path: p.py
            procesess_per_replica: 2
    """, "{spec}:4: api 'qa': predictor: unknown field 'procesess_per_replica'",
        ["hint: did you mean 'processes_per_replica'?"], id="unknown-nested-key"),
    pytest.param("""
        - name: qa
          predictor: {path: p.py}
          autoscalling: {min_replicas: 1}
    """, "{spec}:3: api 'qa': unknown field 'autoscalling'", ["hint: did you mean 'autoscaling'?"],
        id="unknown-top-level-key"),
    pytest.param("""
        - name: qa
          predictor: {path: p.py, bogus: 1}
    """, "{spec}:2: api 'qa': predictor: unknown field 'bogus'", ["hint: valid fields: type, path, class_name"],
        id="unknown-key-lists-the-valid-ones"),
    pytest.param("""
        - name: qa
          predictor:
            path: p.py
            threads_per_process: many
    """, "{spec}:4: api 'qa': predictor.threads_per_process: ", ["(got 'many')"], id="wrong-type-shows-the-value"),
    pytest.param("- name: qa\n", "{spec}:1: api 'qa': predictor: is required", ["hint: add 'predictor:'"],
                 id="missing-predictor"),
    pytest.param("""
        - name: qa
          predictor:
            path: p.py
           config: {a: 1}
    """, "{spec}:4: invalid YAML", ["hint: check indentation"], id="malformed-yaml"),
    pytest.param("""
        - name: qa
          name: qb
          predictor: {path: p.py}
    """, "{spec}:2: duplicate key 'name'", ["hint: remove one of the two entries"], id="duplicate-key"),
    pytest.param("""
        - name: gen
          predictor: {path: p.py}
          compute: {cpu: lots, mem: 2Gi}
          update_strategy: {max_surge: 0, max_unavailable: 0%}
    """, "{spec}:3: api 'gen': compute.cpu: 'lots' is not a CPU quantity",
        ["{spec}:4: api 'gen': update_strategy.max_surge and max_unavailable cannot both be 0"], id="quantities"),
]


@pytest.mark.parametrize("yaml_text, starts, says", ERRORS)
def test_errors_name_file_line_api_field_and_the_fix(tmp_path, yaml_text, starts, says):
    spec = write(tmp_path, yaml_text)
    message = error_of(spec)
    assert message.startswith(starts.format(spec=spec)), message
    for part in says:
        assert part.format(spec=spec) in message, message


def test_several_errors_reported_together(tmp_path):
    spec = write(tmp_path, """
        - name: Bad_Name
          predictor: {path: p.py}
        - name: ok
          predictor: {path: p.txt}
    """)
    with pytest.raises(SpecErrors) as info:
        load_project(spec)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{spec}:1: api 'Bad_Name': name: 'Bad_Name' must be lowercase")
    assert lines[1] == f"{spec}:4: api 'ok': predictor.path: 'p.txt' must be a .py file holding the Predictor class"


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty"),
    # A single mapping is accepted as a one-item list; its fields are then validated.
    ("name: 3\n", "predictor: is required"),
    ("42\n", "must be a list of APIs"),
    ("- 42\n", "item 1 must be a mapping"),
])
def test_shape_errors(tmp_path, text, expected):
    spec = tmp_path / "cortex.yaml"
    spec.write_text(text)
    assert expected in error_of(spec)


def test_missing_file_says_what_to_do(tmp_path):
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml not found" in message and "hint:" in message


def test_cross_api_checks(tmp_path):
    spec = write(tmp_path, """
        - name: a
          predictor: {path: p.py}
          networking: {endpoint: /shared, local_port: 18001}
        - name: a
          predictor: {path: missing.py}
          networking: {endpoint: /shared, local_port: 18001}
    """)
    with pytest.raises(SpecErrors) as info:
        load_project(spec)
    text = str(info.value)
    assert f"{spec}:4: api 'a': name: duplicate api name (also item 1)" in text
    assert f"{spec}:6: api 'a': networking.endpoint: '/shared' is already used by api 'a'" in text
    assert f"{spec}:6: api 'a': networking.local_port: port 18001 is already used by api 'a'" in text
    assert f"{spec}:5: api 'a': predictor.path: 'missing.py' does not exist" in text


def test_batching_interval_accepts_durations(tmp_path):
    spec = write(tmp_path, """
        - name: gen
          predictor:
            path: p.py
            server_side_batching: {max_batch_size: 8, batch_interval: 15ms}
    """)
    batching = load_project(spec).api("gen").predictor.server_side_batching
    assert batching.max_batch_size == 8
    assert batching.batch_interval == pytest.approx(0.015)


@pytest.mark.parametrize("field, value", [
    ("path", "../../x.py"), ("path", "/etc/x.py"), ("python_path", ".."), ("python_path", "/usr/lib"),
])
def test_predictor_paths_outside_the_project_are_refused(tmp_path, field, value):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "x.py").write_text(PREDICTOR)
    path = value if field == "path" else "p.py"
    extra = f"\n            python_path: {value}" if field == "python_path" else ""
    spec = write(project, f"""
        - name: a
          predictor:
            path: {path}{extra}
    """)
    message = error_of(spec)
    line = 3 if field == "path" else 4
    assert f"{spec}:{line}: api 'a': predictor.{field}: '{value}' is outside the project folder" in message
    assert "hint: move the file into the folder holding cortex.yaml" in message
