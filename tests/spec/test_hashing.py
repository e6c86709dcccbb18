"""The runtime hash changes when, and only when, a restart is needed; the spec hash with any change."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlserve.spec import api_files, load_project, models_document, runtime_hash, runtime_spec, spec_hash

PREDICTOR = "class P:\n    def predict(self, payload):\n        return payload\n"


def project(tmp_path: Path, config: str = "{greeting: hi}", compute: str = "{cpu: 1}", extra: str = ""):
    (tmp_path / "p.py").exists() or (tmp_path / "p.py").write_text(PREDICTOR)
    (tmp_path / "cortex.yaml").write_text(
        f"- name: a\n  predictor:\n    path: p.py\n    config: {config}\n  compute: {compute}\n{extra}"
        f"- name: b\n  predictor:\n    path: p.py\n"
    )
    return load_project(tmp_path / "cortex.yaml")


def hashes(p):
    return {a.name: (spec_hash(a), runtime_hash(a, p.root)) for a in p.apis}


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


def test_compute_change_is_a_runtime_change(tmp_path):
    before = hashes(project(tmp_path))
    after = hashes(project(tmp_path, compute="{cpu: 2}"))
    assert after["a"][0] != before["a"][0] and after["a"][1] != before["a"][1]


@pytest.mark.parametrize("extra", [
    "  autoscaling: {max_replicas: 7, min_replicas: 2, window: 30s, target_replica_concurrency: 3}\n",
    "  update_strategy: {max_surge: 1, max_unavailable: 0}\n",
])
def test_autoscaling_and_update_strategy_change_only_the_spec_hash(tmp_path, extra):
    before = hashes(project(tmp_path))
    after = hashes(project(tmp_path, extra=extra))
    assert after["a"][0] != before["a"][0]
    assert after["a"][1] == before["a"][1]


def test_the_runtimes_own_limit_is_a_runtime_field(tmp_path):
    before = hashes(project(tmp_path))
    after = hashes(project(tmp_path, extra="  autoscaling: {max_replica_concurrency: 8}\n"))
    assert after["a"][1] != before["a"][1]


def test_code_change_changes_runtime_hash(tmp_path):
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


def test_project_modules_the_predictor_imports_are_api_files(tmp_path):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "text.py").write_text("import shared\n")
    (tmp_path / "shared.py").write_text("X = 1\n")
    (tmp_path / "unused.py").write_text("")
    (tmp_path / "p.py").write_text("import json\nfrom helpers import text\n" + PREDICTOR)
    p = project(tmp_path)
    files = [f.relative_to(tmp_path).as_posix() for f in api_files(p.api("a"), p.root)]
    assert files == ["helpers/__init__.py", "helpers/text.py", "p.py", "shared.py"]
    before = hashes(p)
    (tmp_path / "shared.py").write_text("X = 2\n")  # imported two levels down
    changed = hashes(project(tmp_path))
    assert changed["a"][1] != before["a"][1]
    (tmp_path / "unused.py").write_text("changed")  # nothing imports it
    assert hashes(project(tmp_path)) == changed


def test_a_folder_named_in_config_is_part_of_the_api(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"v1")
    p = project(tmp_path, config="{model: model, url: 'http://example/x', whole: .}")
    files = [f.relative_to(tmp_path).as_posix() for f in api_files(p.api("a"), p.root)]
    assert files == ["model/weights.bin", "p.py"]  # "." (the whole project) is never an API's file


def test_runtime_spec_keeps_only_what_the_process_reads_with_relative_paths(tmp_path):
    p = project(tmp_path, extra="  autoscaling: {max_replicas: 7, max_replica_concurrency: 9}\n")
    spec = runtime_spec(p.api("a"), p.root)
    assert spec["autoscaling"] == {"max_replica_concurrency": 9}
    assert "update_strategy" not in spec
    assert spec["predictor"]["path"] == "p.py"


def multi_model_project(tmp_path: Path, models: str, settings: str = "cache_size: 2, disk_cache_size: 2"):
    (tmp_path / "p.py").exists() or (tmp_path / "p.py").write_text(PREDICTOR)
    (tmp_path / "cortex.yaml").write_text(
        f"- name: zoo\n  predictor:\n    path: p.py\n    multi_model_reloading: {{{models}, {settings}}}\n")
    return load_project(tmp_path / "cortex.yaml").api("zoo")


def test_the_models_list_is_a_third_kind_of_change_outside_the_runtime_hash(tmp_path):
    one = multi_model_project(tmp_path, "paths: [{name: iris, path: models/iris}]")
    two = multi_model_project(tmp_path, "paths: [{name: iris, path: models/iris}, {name: wine, path: s3://b/wine}]")
    folder = multi_model_project(tmp_path, "dir: models")
    assert runtime_hash(one, tmp_path) == runtime_hash(two, tmp_path) == runtime_hash(folder, tmp_path)
    assert len({spec_hash(one), spec_hash(two), spec_hash(folder)}) == 3
    documents = [models_document(api, tmp_path) for api in (one, two, folder)]
    assert len({d["version"] for d in documents}) == 3
    assert documents[1] == {"api": "zoo", "paths": [{"name": "iris", "path": "models/iris"},
                                                    {"name": "wine", "path": "s3://b/wine"}],
                            "root": str(tmp_path.resolve()), "version": documents[1]["version"]}
    assert "root" not in models_document(two)  # in an image: the process's own project folder
    # What the process reads at start still restarts it.
    bigger = multi_model_project(tmp_path, "dir: models", "cache_size: 3, disk_cache_size: 3")
    assert runtime_hash(bigger, tmp_path) != runtime_hash(folder, tmp_path)
    assert models_document(bigger, tmp_path) == documents[2]


def test_mlserve_itself_is_never_an_api_file_even_in_its_own_repository():
    """The example's predictors import mlserve, and the repository's root holds mlserve's source:
    a snapshot with part of mlserve in it shadowed the installed one (an AsyncAPI's workers failed
    with `No module named 'mlserve.contract.kind'`)."""
    repo = Path(__file__).resolve().parents[2]
    project = load_project(repo / "cortex.yaml")
    for api in project.served():
        files = [f.relative_to(repo).as_posix() for f in api_files(api, repo)]
        assert not [f for f in files if f.startswith("mlserve/")], (api.name, files)
    assert "predictors/translator.py" in [f.relative_to(repo).as_posix()
                                          for f in api_files(project.entry("translate-folder"), repo)]
