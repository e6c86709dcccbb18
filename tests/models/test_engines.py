"""Generation engines behind one interface: llama.cpp on a real (tiny, float32) GGUF against the
torch engine on the same weights, prefix reuse, split parts joined once, and clear errors."""

import sys

import pytest

from mlserve.errors import ModelNotFound, RequestError
from mlserve.models import list_entries, load_generator
from mlserve.models.llamacpp import gguf_file
from mlserve.models.references import ResolvedModel

pytest.importorskip("llama_cpp", reason="the llamacpp engine is not installed: pip install -e '.[llamacpp]'")

PROMPTS = ["the the", "hello there", "t", "the weather is the thing"]


@pytest.fixture(scope="module")
def llama(tiny_gguf):
    return load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128)


@pytest.fixture(scope="module")
def torch_gen(tiny_gguf, tmp_path_factory):
    return load_generator(str(tiny_gguf), engine="torch", cache=tmp_path_factory.mktemp("cache"), prompt_cache_size=0)


def _greedy(gen, ids, n, prefix=()):
    return [step[0] for step in gen.steps([ids], n, prefix=prefix)]


def test_llamacpp_decodes_what_torch_decodes_on_the_same_weights(llama, torch_gen):
    assert llama.engine == "llamacpp" and torch_gen.engine == "torch"
    for text in PROMPTS:
        ids = torch_gen.encode(text, special=False)
        assert _greedy(llama, ids, 6) == _greedy(torch_gen, ids, 6), text


def test_tokens_round_trip_through_the_engine_tokenizer(llama):
    for text in PROMPTS:
        assert llama.decode(llama.encode(text, special=False)) == text
    assert llama.stop_ids  # the GGUF's end-of-text token


def test_a_prompt_extending_the_last_one_decodes_like_a_fresh_one(llama, tiny_gguf):
    fresh = load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128)
    words = "the weather is the thing the".split()
    for n in range(1, len(words) + 1):  # someone typing on: each prompt extends the previous one
        ids = llama.encode(" ".join(words[:n]))
        expected = _greedy(fresh, ids, 4)
        fresh.llm.reset()  # forget the last sequence: no reuse on this side
        assert _greedy(llama, ids, 4) == expected


def test_a_shared_prefix_comes_before_every_row(llama, torch_gen):
    prefix = torch_gen.encode("the the the")
    for text in PROMPTS:
        ids = torch_gen.encode(text, special=False)
        assert _greedy(llama, ids, 4, prefix) == _greedy(llama, prefix + ids, 4)
        assert _greedy(torch_gen, ids, 4, prefix) == _greedy(llama, ids, 4, prefix)


def test_a_stream_closed_early_leaves_the_engine_usable(llama):
    ids = llama.encode("hello there")
    steps = llama.steps([ids], 10)
    next(steps)
    steps.close()  # a client that went away mid-stream
    assert len(_greedy(llama, ids, 3)) == 3


def test_llamacpp_decodes_one_row_at_a_time_and_refuses_too_long_texts(llama):
    assert llama.max_rows == 1
    with pytest.raises(ValueError, match="one row at a time"):
        next(llama.steps([[1], [2]], 2))
    with pytest.raises(RequestError, match="exceeds the model context of 128"):
        next(llama.steps([[5] * 126], 8))


def test_split_parts_are_joined_once_into_the_cache(tiny_gguf, tmp_path):
    data = tiny_gguf.read_bytes()
    parts = [tmp_path / "m.gguf.part1", tmp_path / "m.gguf.part2"]
    parts[0].write_bytes(data[:1000])
    parts[1].write_bytes(data[1000:])
    resolved = ResolvedModel("split", "gguf", parts=tuple(parts))
    cache, said = tmp_path / "cache", []
    joined = gguf_file(resolved, cache, said.append)
    assert joined.read_bytes() == data and joined.parent.name.endswith("-gguf")
    assert [e.path for e in list_entries(cache)] == [joined.parent]
    said.clear()
    assert gguf_file(resolved, cache, said.append) == joined and not any("join" in s for s in said)
    assert gguf_file(ResolvedModel("one", "gguf", parts=(tiny_gguf,)), cache) == tiny_gguf  # one file: as is


def test_auto_picks_llamacpp_for_a_gguf_and_torch_for_a_folder(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert load_generator(str(tiny_gguf), n_ctx=128).engine == "llamacpp"
    load_generator(str(tiny_gguf), engine="torch", cache=tmp_path)
    [converted] = list_entries(tmp_path)  # a saved transformers folder
    assert load_generator(str(converted.path)).engine == "torch"


def test_engine_errors_say_what_to_do(tiny_gguf, tmp_path, monkeypatch):
    with pytest.raises(ModelNotFound, match="unknown engine 'onnx'"):
        load_generator(str(tiny_gguf), engine="onnx")
    with pytest.raises(ModelNotFound, match="dtype 'bfloat16' does not apply to the llamacpp engine"):
        load_generator(str(tiny_gguf), engine="llamacpp", dtype="bfloat16")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="needs a GGUF file"):
        load_generator(str(tmp_path / "m"), engine="llamacpp")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # not installed
    with pytest.raises(ModelNotFound, match="needs the llama-cpp-python package") as err:
        load_generator(str(tiny_gguf), engine="llamacpp")
    assert "mlserve[llamacpp]" in err.value.hint
