"""Deploy's one symlink rule (mlserve/spec/links.py) for what the local snapshot copies and what the
image build context packs: a link resolving inside the project is copied as what it points to; one
leaving the project (or dangling, or looping) is a SymlinkError naming the link, its target and the
field that brought it in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlserve.deploy.local import snapshot
from mlserve.deploy.local.state import StateDir
from mlserve.errors import DeployError, SymlinkError
from mlserve.image.context import build_context, collect_files, ignore_spec
from mlserve.spec import load_project

CORTEX = """\
- name: page
  predictor:
    path: predictors/p.py
    python_path: lib
    config: {data: data}
  networking: {static: web/site}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for folder in ("predictors", "lib", "data", "web/site", "assets/img"):
        (root / folder).mkdir(parents=True)
    (root / "predictors" / "p.py").write_text("class P:\n    def predict(self, payload):\n        return 1\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "data" / "rows.csv").write_text("a,b\n")
    (root / "web" / "site" / "index.html").write_text("<p>hi</p>")
    (root / "assets" / "logo.txt").write_text("logo")
    (root / "assets" / "img" / "a.txt").write_text("a")
    (root / "cortex.yaml").write_text(CORTEX)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / "folder").mkdir(parents=True)
    (out / "secret.txt").write_text("secret")
    (out / "folder" / "inner.txt").write_text("inner")
    return out


def take(root: Path) -> Path:
    project = load_project(root / "cortex.yaml")
    return snapshot.take(StateDir.for_project(root), project, project.api("page"))[1]


def context_files(root: Path) -> list[str]:
    return collect_files(root, ignore_spec(root))


def both_refuse(root: Path, *fragments: str) -> None:
    """The snapshot and the image context both refuse, with every fragment in the message."""
    for attempt in (lambda: take(root), lambda: build_context(load_project(root), "base:1")):
        with pytest.raises(SymlinkError) as caught:
            attempt()
        assert isinstance(caught.value, DeployError)
        for fragment in fragments:
            assert fragment in caught.value.message, caught.value.message
        assert "inside the project" in caught.value.hint


def test_a_link_to_a_file_outside_is_an_error_naming_link_target_and_field(project, outside):
    (project / "web" / "site" / "passwd").symlink_to(outside / "secret.txt")
    both_refuse(project, "'web/site/passwd'", str(outside / "secret.txt"), "outside the project")
    with pytest.raises(SymlinkError, match="networking.static"):
        take(project)
    with pytest.raises(SymlinkError, match="image build context"):
        build_context(load_project(project), "base:1")


def test_a_link_to_a_folder_outside_is_an_error(project, outside):
    (project / "web" / "site" / "more").symlink_to(outside / "folder", target_is_directory=True)
    both_refuse(project, "'web/site/more'", str(outside / "folder"))


def test_links_under_python_path_and_config_folders_follow_the_same_rule(project, outside):
    (project / "lib" / "extra.py").symlink_to(outside / "secret.txt")
    with pytest.raises(SymlinkError, match=r"predictor.python_path: 'lib/extra.py'"):
        take(project)
    (project / "lib" / "extra.py").unlink()
    (project / "data" / "big").symlink_to(outside / "folder", target_is_directory=True)
    with pytest.raises(SymlinkError, match=r"predictor.config.data: 'data/big'") as caught:
        take(project)
    assert "absolute path" in caught.value.hint  # a config value may name an outside path instead


def test_a_dangling_link_and_a_loop_are_errors(project):
    (project / "web" / "site" / "gone").symlink_to(project / "nothing-here")
    both_refuse(project, "'web/site/gone'", "does not exist")
    (project / "web" / "site" / "gone").unlink()
    (project / "web" / "site" / "up").symlink_to(project / "web", target_is_directory=True)
    both_refuse(project, "'web/site/up'", "contains the link itself")


def test_links_inside_the_project_are_copied_as_what_they_point_to(project):
    site = project / "web" / "site"
    (site / "logo.txt").symlink_to(Path("..") / ".." / "assets" / "logo.txt")
    (site / "img").symlink_to(project / "assets" / "img", target_is_directory=True)
    folder = take(project)
    copied = folder / "web" / "site"
    assert (copied / "logo.txt").read_text() == "logo" and not (copied / "logo.txt").is_symlink()
    assert (copied / "img" / "a.txt").read_text() == "a" and not (copied / "img").is_symlink()
    files = context_files(project)
    assert {"web/site/logo.txt", "web/site/img/a.txt", "assets/logo.txt"} <= set(files)
    ctx = build_context(load_project(project), "base:1")
    members = dict(ctx.members())
    assert members["app/web/site/logo.txt"].read_bytes() == b"logo"


def test_a_chain_of_links_is_judged_by_where_it_ends(project, outside):
    site = project / "web" / "site"
    (project / "assets" / "hop").symlink_to(project / "assets" / "logo.txt")
    (site / "chain.txt").symlink_to(project / "assets" / "hop")
    assert (take(project) / "web" / "site" / "chain.txt").read_text() == "logo"
    assert "web/site/chain.txt" in context_files(project)
    (project / "assets" / "hop").unlink()
    (project / "assets" / "hop").symlink_to(outside / "secret.txt")  # the chain now leaves the project
    with pytest.raises(SymlinkError, match="'web/site/chain.txt'"):
        take(project)
    with pytest.raises(SymlinkError, match="outside the project"):
        context_files(project)


def test_a_link_created_after_the_snapshot_is_not_in_it(project, outside):
    folder = take(project)
    (project / "web" / "site" / "late").symlink_to(outside / "secret.txt")
    assert not os.path.lexists(folder / "web" / "site" / "late")
    assert snapshot.hash_of(folder, "page") is not None  # the snapshot itself is still whole


def test_an_ignored_link_does_not_stop_the_image(project, outside):
    (project / "scratch").symlink_to(outside / "folder", target_is_directory=True)
    with pytest.raises(SymlinkError, match="'scratch'"):
        context_files(project)
    (project / ".mlserveignore").write_text("scratch\n")
    assert "scratch" not in " ".join(context_files(project))
    take(project)  # the API's own files do not include it
