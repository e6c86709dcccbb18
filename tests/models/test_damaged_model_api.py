"""An API started on a damaged model, as `mlserve deploy`, a restart or `mlserve refresh` starts it
(a real `python -m mlserve.runtime` process): a damaged cache entry is rebuilt before the API is
ready, and a model that generates nothing is a failed start with the reason, never a live API
answering empty completions."""

import time
from pathlib import Path

import httpx
import pytest
from runtime_harness import Runtime, make_project, serve
from tiny_gguf import write_tiny_llama_gguf

pytest.importorskip("llama_cpp", reason="the llamacpp engine is not installed: pip install -e '.[llamacpp]'")


def project(folder: Path, model: Path, **config) -> Path:
    return make_project(folder, [{"name": "text-generator", "predictor": {
        "type": "python", "path": "predictors/text_generator.py",
        "config": {"model": str(model), "engine": "llamacpp", "n_ctx": 128, "context_tokens": 32, **config}}}])


def _ready(api: Runtime) -> bool:
    try:
        return httpx.get(api.url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_a_damaged_entry_is_rebuilt_when_the_api_starts_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
    source = write_tiny_llama_gguf(tmp_path / "tiny-q8.gguf", hidden=32, quant="Q8_0")
    folder = project(tmp_path / "p", source, dtype="float16")
    api = serve(folder, ["text-generator"], timeout=180)["text-generator"]
    first = api.post({"text": "the"})
    api.stop()
    assert first.status_code == 200, first.text
    answer = {k: first.json()[k] for k in ("completion", "tokens")}
    [entry] = (tmp_path / "cache").glob("*-gguf-f16/model.gguf")
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2])
    api = serve(folder, ["text-generator"], timeout=180)["text-generator"]  # what a restart or refresh does
    try:
        again = api.post({"text": "the"}).json()
        assert {k: again[k] for k in answer} == answer
    finally:
        api.stop()
    assert entry.read_bytes() == good
    assert f"is damaged: model.gguf: expected {len(good)} bytes, found {len(good) // 2} bytes" in api.logs()


def test_a_model_that_generates_nothing_is_a_failed_start_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
    silent = write_tiny_llama_gguf(tmp_path / "silent.gguf", silent=True)
    api = Runtime(project(tmp_path / "p", silent) / "cortex.yaml", "text-generator")
    try:
        deadline = time.monotonic() + 180
        while api.proc.poll() is None:
            assert time.monotonic() < deadline, api.logs()
            assert not _ready(api), "the API went live on a model that generates nothing"
            time.sleep(0.2)
    finally:
        api.stop()
    assert api.proc.returncode != 0
    logs = api.logs()
    assert f"model '{silent}' (llamacpp) generates no text" in logs
    assert "mlserve models verify --fix" in logs
