"""The suggestion gate's rules on their own (no model): words, repeats (cut), first-word and mean
token probability, what a stream may send before the end (never taken back), and its config."""

import math

import pytest

from mlserve.errors import ModelNotFound
from mlserve.models.suggestion_gate import (
    SuggestionGate,
    first_repeat,
    first_word_prob,
    mean_prob,
)

GATE = SuggestionGate()  # the defaults the text-generator ships
LOOP = "Could you please send me the latest version of"


def test_a_suggestion_without_a_word_is_not_shown():
    assert GATE.judge("Please find attached the slides", ".") == ("", "fewer than 1 word")
    assert GATE.judge("Hi", "") == ("", "fewer than 1 word")
    assert GATE.judge("Hi John, I hope you are", " doing well.", first_word_prob=0.25) == (" doing well.", None)
    assert SuggestionGate(min_words=2).judge("Hi", " there.") == ("", "fewer than 2 words")
    assert SuggestionGate(min_words=0, first_word_prob=0).judge("Hi", ".") == (".", None)


def test_a_repeat_is_cut_before_its_first_repeated_word():
    # "the latest version" repeats the text from the first word on: nothing is left, so hidden
    assert GATE.judge(LOOP, " the latest version of the latest version", first_word_prob=0.5) == \
        ("", "repeats 3 words of the text")
    assert GATE.judge("Thanks for", " the help and the help and", first_word_prob=0.5) == \
        (" the help and", "repeats 3 words of the text")  # repeating itself: the first round stays
    assert GATE.judge("Thanks for", " your help, and your help, and more.", first_word_prob=0.5) == \
        (" your help, and", "repeats 3 words of the text")  # the cut keeps what precedes the word
    assert GATE.judge(LOOP, " the project.", first_word_prob=0.5) == (" the project.", None)  # two words: fine
    assert SuggestionGate(repeat_words=0).judge(LOOP, " the latest version of", first_word_prob=0.5) == \
        (" the latest version of", None)
    assert SuggestionGate(min_words=4).judge("Thanks for", " the help and the help and", first_word_prob=0.5) == \
        ("", "repeats 3 words of the text")  # the cut leaves fewer than min_words: hidden


def test_repeats_count_only_runs_that_end_in_the_suggestion_near_the_end_of_the_text():
    assert first_repeat(["a", "b", "c"], ["a", "b", "c"], 3) == 0
    assert first_repeat(["x", "a", "b"], ["c", "a", "b"], 3) is None
    assert first_repeat(["a", "b"], ["c", "a", "b", "c"], 3) == 1  # "a b c" first spans the text and the suggestion
    assert first_repeat(["x"], ["a", "b", "c", "d", "a", "b", "c"], 3) == 4
    assert first_repeat(["a", "b", "c"], ["d"], 3) is None  # the text's own repeats do not count
    long_ago = "I sent the report to the team. " + "Then we talked about many other things for a while. " * 3
    assert GATE.judge(long_ago + "Can you forward", " the report to me?", first_word_prob=0.5) == \
        (" the report to me?", None)


def test_an_unlikely_first_word_is_not_shown():
    assert GATE.judge("Thanks again for your", " own growth.", first_word_prob=0.045) == \
        ("", "first word probability 0.04 < 0.1")
    assert GATE.judge("Thanks again for your", " help.", first_word_prob=0.1) == (" help.", None)
    assert GATE.judge("Hi", " there.") == (" there.", None)  # no probabilities (gate needs none): not judged


def test_the_mean_token_probability_rule_is_off_by_default():
    assert GATE.judge("Hi", " there.", first_word_prob=0.5, token_prob=0.01) == (" there.", None)
    gate = SuggestionGate(token_prob=0.3)
    assert gate.judge("Hi", " there.", first_word_prob=0.5, token_prob=0.2) == \
        ("", "mean token probability 0.20 < 0.3")


def _word_prefixes(completion):
    """The completion as a stream sees it: cut before each space, then whole."""
    return [completion[:i] for i, c in enumerate(completion) if c == " " and i] + [completion]


CASES = [(LOOP, " the latest version of the latest version"), ("Thanks for", " the help and the help and"),
         ("Thanks for", " your help, and your help, and more."), ("Hi John, I hope you are", " doing well."),
         ("Hi", " a b c d e a b c d"), ("x y", " z w x y z"), ("Hi", " one two three four five six."),
         ("Please find attached", "."), ("Hi", " there"), ("a b c", " d e f g h i j k l e f")]


@pytest.mark.parametrize("gate", [GATE, SuggestionGate(min_words=2), SuggestionGate(repeat_words=2),
                                  SuggestionGate(repeat_words=0), SuggestionGate(min_words=0, repeat_words=4),
                                  SuggestionGate(min_words=3, repeat_words=1), SuggestionGate(token_prob=0.2)])
@pytest.mark.parametrize("probability", [0.5, 0.05])
def test_what_is_settled_is_never_taken_back(gate, probability):
    for text, completion in CASES:
        shown, _ = gate.judge(text, completion, first_word_prob=probability, token_prob=0.5)
        sent, stopped = "", False
        for partial in _word_prefixes(completion)[:-1]:
            now, final = gate.settled(text, partial, first_word_prob=probability)
            assert now.startswith(sent) and shown.startswith(now), (text, partial, now, shown)
            assert not stopped or now == sent  # once final, nothing more
            if final:
                assert now == shown, (text, partial, now, shown)  # the stream may stop: it has it all
            sent, stopped = now, stopped or final


def test_a_word_is_settled_once_two_more_follow_and_the_first_word_passed():
    text = "Hi"
    assert [GATE.settled(text, p, first_word_prob=0.5) for p in _word_prefixes(" one two three four five.")] == \
        [("", False), ("", False), (" one", False), (" one two", False), (" one two three", False)]  # end: judge()
    assert GATE.settled(text, " one", first_word_prob=0.05) == ("", True)  # hidden after its first word
    assert GATE.settled("Thanks for", " the help and the help and", first_word_prob=0.5) == (" the help and", True)
    assert GATE.settled(LOOP, " the latest version", first_word_prob=0.5) == ("", True)  # cut to nothing
    assert SuggestionGate(repeat_words=0).settled(text, " one", first_word_prob=0.5) == (" one", False)
    assert SuggestionGate(min_words=4).settled(text, " one two three four five", first_word_prob=0.5) == ("", False)
    assert SuggestionGate(token_prob=0.2).settled(text, " one two three four five", first_word_prob=0.5) == \
        ("", False)  # known only at the end


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
