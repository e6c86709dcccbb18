"""The suggestion gate's rules on their own (no model): words, repeats, first-word and mean
token probability, and its config."""

import math

import pytest

from mlserve.errors import ModelNotFound
from mlserve.models.suggestion_gate import (
    SuggestionGate,
    first_word_prob,
    mean_prob,
    repeats,
)

GATE = SuggestionGate()  # the defaults the text-generator ships


def test_a_suggestion_without_a_word_is_not_shown():
    assert GATE.reason("Please find attached the slides", ".") == "fewer than 1 word"
    assert GATE.reason("Hi", "") == "fewer than 1 word"
    assert GATE.reason("Hi John, I hope you are", " doing well.", first_word_prob=0.25) is None
    assert SuggestionGate(min_words=2).reason("Hi", " there.") == "fewer than 2 words"
    assert SuggestionGate(min_words=0, first_word_prob=0).reason("Hi", ".") is None


def test_a_suggestion_repeating_the_text_or_itself_is_not_shown():
    text = "Could you please send me the latest version of"
    assert GATE.reason(text, " the latest version of the latest version", first_word_prob=0.5) == \
        "repeats 3 words of the text"
    assert GATE.reason("Thanks for", " the help and the help and", first_word_prob=0.5) == \
        "repeats 3 words of the text"  # repeating itself
    assert GATE.reason(text, " the project.", first_word_prob=0.5) is None  # two words again is fine
    assert SuggestionGate(repeat_words=0).reason(text, " the latest version of", first_word_prob=0.5) is None


def test_repeats_count_only_runs_that_end_in_the_suggestion_near_the_end_of_the_text():
    assert repeats(["a", "b", "c"], ["a", "b", "c"], 3)
    assert repeats(["x", "a", "b"], ["c", "a", "b"], 3) is False
    assert repeats(["a", "b"], ["c", "a", "b", "c"], 3)  # "a b c" spans the text and the suggestion
    assert repeats(["a", "b", "c"], ["d"], 3) is False  # the text's own repeats do not count
    long_ago = "I sent the report to the team. " + "Then we talked about many other things for a while. " * 3
    assert GATE.reason(long_ago + "Can you forward", " the report to me?", first_word_prob=0.5) is None


def test_an_unlikely_first_word_is_not_shown():
    assert GATE.reason("Thanks again for your", " own growth.", first_word_prob=0.045) == \
        "first word probability 0.04 < 0.1"
    assert GATE.reason("Thanks again for your", " help.", first_word_prob=0.1) is None
    assert GATE.reason("Hi", " there.") is None  # no probabilities (gate needs none): not judged


def test_the_mean_token_probability_rule_is_off_by_default():
    assert GATE.reason("Hi", " there.", first_word_prob=0.5, token_prob=0.01) is None
    gate = SuggestionGate(token_prob=0.3)
    assert gate.reason("Hi", " there.", first_word_prob=0.5, token_prob=0.2) == "mean token probability 0.20 < 0.3"


def test_the_first_word_probability_multiplies_its_tokens():
    # " doing well." as the tokens " do", "ing", " well", "." ending at 3, 6, 11, 12
    logprobs = [math.log(0.5), math.log(0.8), math.log(0.9), math.log(0.7)]
    assert first_word_prob(" doing well.", [3, 6, 11, 12], logprobs) == pytest.approx(0.4)
    assert first_word_prob(" I've been", [2, 5, 10], [math.log(0.5), math.log(0.5), 0.0]) == pytest.approx(0.25)
    assert first_word_prob(" .", [1, 2], [0.0, 0.0]) is None
    assert mean_prob([math.log(0.5), math.log(0.125)]) == pytest.approx(0.25)
    assert mean_prob([]) is None


def test_config():
    assert SuggestionGate.from_config(None) == GATE == SuggestionGate.from_config(True)
    assert GATE.needs_logprobs and GATE.first_word_prob == 0.1 and GATE.repeat_words == 3
    assert SuggestionGate.from_config(False) is None
    assert SuggestionGate.from_config({"first_word_prob": 0.2}) == SuggestionGate(first_word_prob=0.2)
    assert not SuggestionGate.from_config({"first_word_prob": 0}).needs_logprobs
    with pytest.raises(ModelNotFound, match="first_word_prob, min_words, repeat_words, token_prob") as bad:
        SuggestionGate.from_config({"threshold": 0.1})
    assert bad.value.hint
    for value in ({"first_word_prob": 2}, {"min_words": -1}, {"min_words": "many"}, "yes"):
        with pytest.raises(ModelNotFound, match="config gate"):
            SuggestionGate.from_config(value)
