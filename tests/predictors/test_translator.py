"""Translator plumbing: a tiny Marian (seq2seq path) and a tiny GPT-2 (few-shot path)."""

import pytest
from seed_predictors import load_predictor, predictor_module

from mlserve.errors import ModelNotFound, PayloadTooLarge, RequestError

TEXT = "Thank you very much. How are you?\n\nSee you soon!"


def test_sentences_are_split_per_line():
    split = predictor_module("translator").split_sentences
    assert split(TEXT) == [["Thank you very much.", "How are you?"], [], ["See you soon!"]]
    assert split("no final stop") == [["no final stop"]]


@pytest.fixture(scope="module", params=["seq2seq", "few-shot"])
def translator(request, marian_dir, gpt2_dir):
    model = marian_dir if request.param == "seq2seq" else gpt2_dir
    predictor = load_predictor("translator", {"model": str(model), "batch_sentences": 2})
    assert predictor.seq2seq is (request.param == "seq2seq")
    return predictor


def test_every_sentence_is_translated_and_the_layout_kept(translator):
    response = translator.predict({"text": TEXT})
    assert set(response) == {"translation", "sentences", "latency_ms"}
    assert response["sentences"] == 3
    first, empty, last = response["translation"].split("\n")
    assert empty == "" and first and last


def test_a_text_translates_like_its_sentences_one_by_one(translator):
    parts = ["Thank you very much.", "How are you?", "See you soon!"]
    singles = [translator.predict({"text": p})["translation"] for p in parts]
    assert translator.predict({"text": " ".join(parts)})["translation"] == " ".join(singles)


def test_a_batch_answers_like_single_requests(translator):
    texts = ["Good night.", "The book is on the table. It is red.", "Yes"]
    batch = translator.predict([{"text": t} for t in texts] + [{"text": None}])
    assert [r["translation"] for r in batch[:3]] == [translator.predict({"text": t})["translation"] for t in texts]
    assert isinstance(batch[3], RequestError)


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "missing field 'text'"),
    ({"text": " "}, "field 'text' is empty"),
    ({"text": {"en": "hi"}}, "must be a string, got dict"),
    ("Thank you", "expected a JSON object"),
])
def test_bad_input_is_a_request_error(translator, payload, message):
    with pytest.raises(RequestError, match=message):
        translator.predict(payload)


def test_100_kb_of_text_is_refused_as_too_large(translator):
    with pytest.raises(PayloadTooLarge, match="at most 5000"):
        translator.predict({"text": "Hello there. " * 8000})


def test_unresolvable_model_fails_at_start(tmp_path):
    with pytest.raises(ModelNotFound, match="no such file or directory"):
        load_predictor("translator", {"model": str(tmp_path / "missing-model")})
