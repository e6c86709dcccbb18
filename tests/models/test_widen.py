"""A quantised GGUF widened to float16/float32 for llama.cpp: the file itself (metadata kept,
values = the dequantised weights), torch's exact tokens on it, the cache entry made once and
managed by `mlserve models`, and clear errors."""

import gguf
import numpy as np
import pytest
from test_models_cli import mlserve
from tiny_gguf import write_tiny_llama_gguf

from mlserve.errors import ModelNotFound
from mlserve.models import list_entries, load_generator, prepare_model
from mlserve.models.widen import widen_gguf

PROMPTS = ["the the", "hello there", "t", "the weather is the thing"]


@pytest.fixture(scope="module")
def quantised(tmp_path_factory):
    # hidden 32: Q8_0 stores rows in blocks of 32 values.
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("q8") / "tiny-q8.gguf", hidden=32, quant="Q8_0")


def _fields(reader):
    return {k: (f.types, [bytes(f.parts[i]) for i in f.data]) for k, f in reader.fields.items()
            if not k.startswith("GGUF.") and k != "general.file_type"}


@pytest.mark.parametrize("dtype,kind", [("float16", "F16"), ("float32", "F32")])
def test_widening_keeps_the_metadata_and_the_dequantised_values(quantised, tmp_path, dtype, kind):
    target = widen_gguf(quantised, tmp_path / "wide.gguf", dtype, lambda _: None)
    source, wide = gguf.GGUFReader(quantised), gguf.GGUFReader(target)
    assert _fields(wide) == _fields(source)
    assert {t.tensor_type.name for t in source.tensors if len(t.shape) > 1} == {"Q8_0"}
    for before, after in zip(source.tensors, wide.tensors, strict=True):
        assert after.name == before.name
        assert after.tensor_type.name == (kind if len(before.shape) > 1 else "F32")
        values = gguf.quants.dequantize(before.data, before.tensor_type)
        expected = values.astype(np.float16).astype(np.float32) if dtype == "float16" else values
        np.testing.assert_array_equal(np.asarray(after.data, np.float32).reshape(values.shape), expected)


def test_llamacpp_on_the_widened_file_decodes_what_torch_decodes(quantised, tmp_path):
    pytest.importorskip("llama_cpp", reason="the llamacpp engine is not installed: pip install -e '.[llamacpp]'")
    cache = tmp_path / "cache"
    torch_gen = load_generator(str(quantised), engine="torch", cache=cache, prompt_cache_size=0)
    wide = load_generator(str(quantised), engine="llamacpp", dtype="float32", cache=cache, n_ctx=128)
    for text in PROMPTS:
        ids = torch_gen.encode(text, special=False)
        assert [s[0] for s in wide.steps([ids], 6)] == [s[0] for s in torch_gen.steps([ids], 6)], text


def test_the_widened_file_is_written_once_into_the_cache(quantised, tmp_path):
    cache, said = tmp_path / "cache", []
    first = prepare_model(str(quantised), engine="llamacpp", dtype="float16", cache=cache, on_progress=said.append)
    assert first.name == "model.gguf" and first.parent.name.endswith("-gguf-f16")
    assert any("with float16 weights once" in m for m in said)
    said.clear()
    assert prepare_model(str(quantised), engine="llamacpp", dtype="float16", cache=cache,
                         on_progress=said.append) == first
    assert not any("once" in m for m in said)
    assert prepare_model(str(quantised), engine="llamacpp", cache=cache) == quantised  # as stored: read in place
    [entry] = list_entries(cache)
    assert entry.path == first.parent and entry.source == str(quantised)


def test_models_prepare_follows_each_apis_engine_and_dtype(quantised, tmp_path):
    (tmp_path / "p.py").write_text("class P:\n    def predict(self, payload):\n        return payload\n")
    (tmp_path / "cortex.yaml").write_text(
        f"- name: a\n  predictor:\n    type: python\n    path: p.py\n"
        f"    config: {{model: {quantised}, engine: llamacpp, dtype: float16}}\n"
    )
    cache = tmp_path / "cache"
    result = mlserve("prepare", cwd=tmp_path, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"✓ {quantised} (llamacpp, float16) → {cache}" in result.stdout
    assert [e.path.name[-9:] for e in list_entries(cache)] == ["-gguf-f16"]
    one = mlserve("prepare", str(quantised), "--engine", "llamacpp", "--dtype", "float32", cwd=tmp_path, cache=cache)
    assert one.returncode == 0, one.stdout + one.stderr
    assert sorted(e.path.name[-9:] for e in list_entries(cache)) == ["-gguf-f16", "-gguf-f32"]


def test_a_dtype_llamacpp_cannot_run_is_a_clear_error(quantised, tmp_path):
    with pytest.raises(ModelNotFound, match="dtype 'bfloat16' does not apply to the llamacpp engine") as caught:
        prepare_model(str(quantised), engine="llamacpp", dtype="bfloat16", cache=tmp_path)
    assert "float16, float32" in caught.value.hint
