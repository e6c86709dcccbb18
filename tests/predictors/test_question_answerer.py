"""QA plumbing with tiny random BERTs: spans, offsets, both answering modes, errors."""

import pytest
from seed_predictors import REFERENCE, load_predictor, predictor_module

from mlserve.errors import PayloadTooLarge, PredictorInitError, RequestError

DOC = """# Title

First sentence here. Second one!
Third line, same paragraph?

## Section

```
code is skipped.
```
Last paragraph.
"""


def test_spans_cover_sentences_and_paragraphs_not_headings_or_code():
    sentences, paragraphs = predictor_module("question_answerer").spans(DOC)
    assert [DOC[s:e] for s, e in sentences] == [
        "First sentence here.", "Second one!", "Third line, same paragraph?", "Last paragraph."]
    assert [DOC[s:e] for s, e in paragraphs] == [
        "First sentence here. Second one!\nThird line, same paragraph?", "Last paragraph."]


@pytest.fixture(scope="module")
def retrieval(bert_encoder_dir):
    return load_predictor("question_answerer", {"encoder": str(bert_encoder_dir)})


@pytest.fixture(scope="module")
def extractive(bert_encoder_dir, bert_qa_dir):
    return load_predictor("question_answerer", {"encoder": str(bert_encoder_dir), "model": str(bert_qa_dir)})


def test_default_reference_is_the_shipped_article(retrieval):
    assert retrieval.text == REFERENCE.read_text()


def test_retrieval_answer_is_a_sentence_span_of_the_reference(retrieval):
    sentence = "Supervised learning is learning from examples that come with the correct answers"
    response = retrieval.predict({"question": sentence + ", so the program can compare its guesses"})
    assert set(response) == {"answer", "score", "start", "end"}
    assert retrieval.text[response["start"]:response["end"]] == response["answer"]
    assert (response["start"], response["end"]) in retrieval.sentences


def test_a_question_equal_to_a_sentence_finds_that_sentence(retrieval):
    start, end = retrieval.sentences[17]
    response = retrieval.predict({"question": retrieval.text[start:end]})
    assert (response["start"], response["end"]) == (start, end)
    assert response["score"] == pytest.approx(1.0, abs=1e-3)


def test_extractive_answer_is_a_span_inside_one_paragraph(extractive):
    response = extractive.predict({"question": "What is overfitting?"})
    start, end = response["start"], response["end"]
    assert extractive.text[start:end] == response["answer"] and response["answer"]
    assert any(ps <= start < end <= pe for ps, pe in extractive.paragraphs)
    assert 0 < response["score"] <= 1


def test_max_answer_tokens_bounds_the_span(bert_encoder_dir, bert_qa_dir):
    qa = load_predictor("question_answerer", {"encoder": str(bert_encoder_dir), "model": str(bert_qa_dir),
                                              "max_answer_tokens": 1, "top_k": 1})
    answer = qa.predict({"question": "What is a neural network?"})["answer"]
    assert len(answer.split()) == 1


def test_a_batch_answers_like_single_requests(retrieval, extractive):
    questions = ["What is machine learning?", "What is data drift?"]
    for qa in (retrieval, extractive):
        batch = qa.predict([{"question": q} for q in questions] + [{"question": 3}])
        assert batch[:2] == [qa.predict({"question": q}) for q in questions]
        assert isinstance(batch[2], RequestError)


def test_reference_from_config_relative_to_the_project(tmp_path, monkeypatch, bert_encoder_dir):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.md").write_text("# FAQ\n\nmlserve serves models. It runs locally.\n")
    monkeypatch.chdir(tmp_path)  # the runtime runs predictors from the project folder
    qa = load_predictor("question_answerer", {"reference": "docs/faq.md", "encoder": str(bert_encoder_dir)})
    assert qa.predict({"question": "It runs locally."})["answer"] == "It runs locally."


def test_missing_or_empty_reference_fails_at_start(tmp_path, bert_encoder_dir):
    with pytest.raises(PredictorInitError, match="reference file 'nope.md' not found"):
        load_predictor("question_answerer", {"reference": "nope.md", "encoder": str(bert_encoder_dir)})
    (tmp_path / "empty.md").write_text("# only a heading\n")
    with pytest.raises(PredictorInitError, match="has no sentences"):
        load_predictor("question_answerer", {"reference": str(tmp_path / "empty.md"),
                                             "encoder": str(bert_encoder_dir)})


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "missing field 'question'"),
    ({"question": ""}, "field 'question' is empty"),
    ({"question": 1.5}, "must be a string, got float"),
    ({"text": "What is machine learning?"}, "missing field 'question'"),
    (["not", "objects"], None),
    (b"\x80\x81", "got raw bytes"),
])
def test_bad_input_is_a_request_error(retrieval, payload, message):
    if message is None:  # a list is a batch: every bad item is its own error
        assert all(isinstance(r, RequestError) for r in retrieval.predict(payload))
        return
    with pytest.raises(RequestError, match=message):
        retrieval.predict(payload)


def test_100_kb_question_is_refused_as_too_large(retrieval):
    with pytest.raises(PayloadTooLarge, match="at most 1000"):
        retrieval.predict({"question": "why " * 25_000})
