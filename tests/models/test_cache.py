"""The GGUF conversion cache: converted once, keyed by content, safe across processes."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from mlserve.errors import ModelNotFound
from mlserve.models import cache_dir, clear, list_entries, load_causal_lm, materialize
from mlserve.models.cache import MARKER, entry_name, lock_path
from mlserve.models.digest import content_sha256


def test_gguf_is_converted_once_then_read_from_the_cache(tiny_gguf, cache):
    first: list[str] = []
    entry = materialize(str(tiny_gguf), cache=cache, on_progress=first.append)
    assert any(m.startswith("converting ") for m in first) and any("hashing" in m for m in first)
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= {p.name for p in entry.iterdir()}
    again: list[str] = []
    assert materialize(str(tiny_gguf), cache=cache, on_progress=again.append) == entry
    assert again == []  # neither hashed nor converted: the digest and the entry were remembered


def test_converted_model_computes_what_the_gguf_computes(tiny_gguf, cache):
    from transformers import AutoModelForCausalLM

    direct = AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name).eval()
    model, tokenizer = load_causal_lm(str(tiny_gguf), cache=cache)
    ids = tokenizer("the cat sat on the mat", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(direct(ids).logits, model(ids).logits)
    assert "quantization_config" not in (entry_dir := Path(model.name_or_path)).joinpath("config.json").read_text()
    assert entry_dir.parent == cache


def test_digest_is_remembered_per_file_version(tmp_path):
    source = tmp_path / "w.gguf"
    source.write_bytes(b"weights v1")
    seen: list[str] = []
    first = content_sha256([source], tmp_path / "store", seen.append)
    assert content_sha256([source], tmp_path / "store", seen.append) == first
    assert len(seen) == 1  # hashed once
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert content_sha256([source], tmp_path / "store", seen.append) == first
    assert len(seen) == 2  # a touched file is hashed again, with the same result
    source.write_bytes(b"weights v2")
    assert content_sha256([source], tmp_path / "store", seen.append) != first


def test_split_parts_give_the_same_entry_as_the_joined_file(tiny_gguf, cache, site):
    data = tiny_gguf.read_bytes()
    third = len(data) // 3
    for i, chunk in enumerate([data[:third], data[third:2 * third], data[2 * third:]]):
        site(f"fakeweights_tiny_part{i + 1}", {f"data/tiny.gguf.part{i:02d}": chunk})
    entry = materialize("pkg://fakeweights_tiny_part*/data/tiny.gguf.part*", cache=cache)
    assert not list(entry.glob("*.gguf*"))  # the joined copy is removed after conversion
    seen: list[str] = []
    assert materialize(str(tiny_gguf), cache=cache, on_progress=seen.append) == entry
    assert not any(m.startswith("converting ") for m in seen)


def _prepare_in_subprocess(gguf: Path, cache: Path, log: Path) -> subprocess.Popen:
    code = (
        "import sys; from mlserve.models import materialize\n"
        "say = lambda m: print(m, flush=True)\n"
        "print('ENTRY', materialize(sys.argv[1], cache=sys.argv[2], on_progress=say), flush=True)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(gguf), str(cache)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def test_two_processes_preparing_at_once_convert_once(tiny_gguf, cache, tmp_path):
    name = entry_name(content_sha256([tiny_gguf], cache))
    lock_path(cache, name).parent.mkdir(parents=True, exist_ok=True)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # Hold the entry's lock so both processes are certainly contending when it is released.
    with FileLock(str(lock_path(cache, name))):
        procs = [_prepare_in_subprocess(tiny_gguf, cache, log) for log in logs]
        deadline = time.monotonic() + 120
        while not all("waiting for another process" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, [log.read_text() for log in logs]
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            time.sleep(0.2)
    codes = [p.wait(timeout=120) for p in procs]
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], outputs
    conversions = [line for out in outputs for line in out.splitlines() if line.startswith("converting ")]
    assert len(conversions) == 1, outputs
    assert {out.split("ENTRY ")[1].strip() for out in outputs} == {str(cache / name)}
    assert (cache / name / MARKER).exists()
    assert not list(cache.glob(".tmp-*"))


def test_leftovers_of_a_crashed_conversion_are_replaced(tiny_gguf, cache):
    name = entry_name(content_sha256([tiny_gguf], cache))
    (cache / f".tmp-{name}-crashed").mkdir(parents=True)
    (cache / name).mkdir()  # a folder without the marker is not an entry
    (cache / name / "model.safetensors").write_bytes(b"half written")
    entry = materialize(str(tiny_gguf), cache=cache)
    assert entry == cache / name and (entry / MARKER).exists()
    assert not list(cache.glob(".tmp-*"))
    load_causal_lm(str(entry))  # complete and loadable


def test_a_broken_gguf_leaves_nothing_behind(tmp_path, cache):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelNotFound, match="cannot read GGUF"):
        materialize(str(broken), cache=cache)
    assert list_entries(cache) == [] and not list(cache.glob(".tmp-*"))


def test_list_and_clear(tiny_gguf, cache):
    entry = materialize(str(tiny_gguf), cache=cache)
    [listed] = list_entries(cache)
    assert (listed.path, listed.source) == (entry, str(tiny_gguf))
    assert listed.size_bytes > tiny_gguf.stat().st_size // 2
    with pytest.raises(ModelNotFound, match="no cache entry matches nope"):
        clear(cache, ["nope"])
    assert clear(cache, [entry.name[:8]]) == [entry]
    assert list_entries(cache) == [] and not entry.exists()


def test_cache_folder_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MLSERVE_MODEL_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "mlserve" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mlserve" / "models"
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_a_saved_model_folder_is_used_in_place(tiny_gguf, cache, tmp_path):
    saved = shutil.copytree(materialize(str(tiny_gguf), cache=cache), tmp_path / "saved")
    assert materialize(str(saved), cache=tmp_path / "other-cache") == saved
    assert not (tmp_path / "other-cache").exists()
