"""`mlserve models` as a user runs it: a real subprocess of the console entry point."""

import os
import subprocess
import sys
from pathlib import Path


def mlserve(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLSERVE_MODEL_CACHE": str(cache), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mlserve.cli", "models", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_prepare_list_clear(tiny_gguf, tmp_path):
    cache = tmp_path / "cache"
    empty = mlserve("list", cwd=tmp_path, cache=cache)
    assert empty.returncode == 0 and "no converted models" in empty.stdout
    prepared = mlserve("prepare", str(tiny_gguf), cwd=tmp_path, cache=cache)
    assert prepared.returncode == 0, prepared.stderr
    assert f"✓ {tiny_gguf} → {cache}" in prepared.stdout
    assert "converting" in prepared.stderr  # progress of the slow first conversion
    listed = mlserve("list", cwd=tmp_path, cache=cache)
    [entry] = [p.name for p in cache.iterdir() if not p.name.startswith(".") and p.is_dir()]
    assert entry in listed.stdout and str(tiny_gguf) in listed.stdout
    cleared = mlserve("clear", "--yes", cwd=tmp_path, cache=cache)
    assert cleared.returncode == 0 and "removed 1 entry" in cleared.stdout
    assert not (cache / entry).exists()


def test_prepare_reads_the_references_in_cortex_yaml(tiny_gguf, tmp_path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text(
        f"- name: a\n  predictor:\n    type: python\n    path: p.py\n    config:\n      model: {tiny_gguf}\n"
        "- name: b\n  predictor:\n    type: python\n    path: p.py\n    config:\n      model: pkg://fakeweights_absent/x.gguf\n"
    )
    result = mlserve("prepare", cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 1  # one reference cannot be resolved
    assert f"✓ {tiny_gguf}" in result.stdout
    assert "✗ pkg://fakeweights_absent/x.gguf: model 'pkg://fakeweights_absent/x.gguf' not found" in result.stdout
    assert "requirements-weights.txt" in result.stdout


def test_unknown_entry_is_a_clear_error(tmp_path):
    result = mlserve("clear", "nope", "--yes", cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 1
    assert "error: no cache entry matches nope" in result.stderr
    assert "mlserve models list" in result.stderr
