"""predictors/story_generator.py on a tiny llama: request checks, seeded sampling, streaming, passage ends."""

import pytest
from seed_predictors import load_predictor, predictor_module

from mlserve import RequestError
from mlserve.models import load_causal_lm


@pytest.fixture(scope="module")
def story(tiny_model):
    return load_predictor("story_generator", {"model": tiny_model, "max_new_tokens": 24, "threads": 1})


TURN = {"story": "You stand at the gate.", "action": "knock"}


@pytest.mark.parametrize("payload, words", [
    ("knock", "expected a JSON object"),
    ({"story": 3, "action": "x"}, "field 'story' must be a string"),
    ({"story": " ", "action": ""}, "both empty"),
    ({**TURN, "temperature": 3}, "field 'temperature' must be a number from 0.0 to 2.0"),
    ({**TURN, "top_p": "high"}, "field 'top_p'"),
    ({**TURN, "top_k": 1.5}, "field 'top_k' must be an integer"),
    ({**TURN, "repetition_penalty": 0.5}, "field 'repetition_penalty'"),
    ({**TURN, "max_new_tokens": 10_000}, "field 'max_new_tokens' must be an integer from 1 to 256"),
    ({**TURN, "seed": -1}, "field 'seed'"),
    ({"story": "x" * 30_000, "action": "y"}, "at most 20000"),
])
def test_bad_requests_name_the_field(story, payload, words):
    with pytest.raises(RequestError, match=words):
        story.predict(payload)
    with pytest.raises(RequestError, match=words):
        story.stream(payload)  # raised before the first piece: the runtime can still answer 400


def test_a_seed_reproduces_the_passage_and_is_returned(story):
    first = story.predict({**TURN, "seed": 11})
    assert first["seed"] == 11 and first["tokens"] > 0
    again = story.predict({**TURN, "seed": 11})
    assert (again["passage"], again["tokens"]) == (first["passage"], first["tokens"])
    drawn = story.predict(TURN)
    assert 0 <= drawn["seed"] < 2**31
    assert story.predict({**TURN, "seed": drawn["seed"]})["passage"] == drawn["passage"]
    passages = {story.predict({**TURN, "seed": s, "temperature": 1.5})["passage"] for s in range(6)}
    assert len(passages) > 1  # sampling samples


def test_stream_yields_the_same_passage(story):
    turn = {**TURN, "seed": 4, "max_new_tokens": 40}
    assert "".join(story.stream(turn)) == story.predict(turn)["passage"]


def test_greedy_ignores_the_seed(story):
    a = story.predict({**TURN, "temperature": 0, "seed": 1})["passage"]
    assert story.predict({**TURN, "temperature": 0, "seed": 2})["passage"] == a


def test_passage_stops_at_the_next_action_and_ends_at_a_sentence(tiny_model):
    module = predictor_module("story_generator")
    _, tokenizer = load_causal_lm(tiny_model, device="cpu")
    passage = module._Passage(tokenizer, stop_ids=set())
    ids = tokenizer("\nThe gate opens.\nA man waits\n> go north", add_special_tokens=False)["input_ids"]
    pieces = [passage.feed(i) for i in ids]
    assert passage.done and "".join(pieces) == "The gate opens.\nA man waits"  # a line end is an end too
    unfinished = module._Passage(tokenizer, stop_ids=set())
    text = "".join(unfinished.feed(i) for i in tokenizer("It is dark. You hear", add_special_tokens=False)["input_ids"])
    assert text + unfinished.finish() == "It is dark."
    no_end = module._Passage(tokenizer, stop_ids=set())
    text = "".join(no_end.feed(i) for i in tokenizer("a long silence ", add_special_tokens=False)["input_ids"])
    assert text + no_end.finish() == "a long silence"
