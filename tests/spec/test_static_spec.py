"""networking.static: checked at load time, part of the API's predictor hash."""

from __future__ import annotations

import pytest
from test_loader import error_of, write

from mlserve.spec import load_project, runtime_hash

SPEC = """
- name: compose
  predictor:
    path: p.py
  networking:
    static: {static}
"""


def test_static_folder_resolves_under_the_project(tmp_path):
    (tmp_path / "web").mkdir()
    api = load_project(write(tmp_path, SPEC.format(static="web"))).api("compose")
    assert api.networking.static == "web"
    assert api.static_folder(tmp_path) == (tmp_path / "web").resolve()


@pytest.mark.parametrize("static, message, hint", [
    ("web", "networking.static: 'web' is not a folder", "relative to the folder holding cortex.yaml"),
    ("p.py", "networking.static: 'p.py' is not a folder", "relative to the folder holding cortex.yaml"),
    ("..", "networking.static: '..' is outside the project folder", "must live under the folder"),
    ("/tmp", "networking.static: '/tmp' is outside the project folder", "must live under the folder"),
])
def test_bad_static_folder_names_file_line_field_and_fix(tmp_path, static, message, hint):
    text = error_of(write(tmp_path, SPEC.format(static=static)))
    assert text.startswith(f"{tmp_path / 'cortex.yaml'}:5: api 'compose': {message}"), text
    assert hint in text


def test_static_files_are_part_of_the_runtime_hash(tmp_path):
    web = tmp_path / "web"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<p>one</p>")
    project = load_project(write(tmp_path, SPEC.format(static="web")))
    api = project.api("compose")
    first = runtime_hash(api, project.root)
    assert runtime_hash(api, project.root) == first
    (web / "index.html").write_text("<p>two</p>")
    second = runtime_hash(api, project.root)
    (web / "js" / "app.js").write_text("1")
    assert len({first, second, runtime_hash(api, project.root)}) == 3
