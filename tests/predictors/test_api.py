"""The seed predictors behind the real runtime (tiny models): HTTP errors, batching, streaming."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from runtime_harness import error_of, make_project, serve


def _text_generator(name, model, batching):
    return {"name": name,
            "predictor": {"type": "python", "path": "predictors/text_generator.py",
                          "config": {"model": str(model), "max_new_tokens": 6, "gate": False},  # plumbing: no gate
                          "server_side_batching": batching}}


@pytest.fixture(scope="module")
def apis(tmp_path_factory, gpt2_dir, bert_encoder_dir, marian_dir):
    project = make_project(tmp_path_factory.mktemp("project"), [
        # A long window, so requests sent together land in one batch.
        _text_generator("text-generator", gpt2_dir, {"max_batch_size": 4, "batch_interval": "500ms"}),
        {"name": "question-answerer",
         "predictor": {"type": "python", "path": "predictors/question_answerer.py",
                       "config": {"reference": "predictors/reference/machine_learning.md",
                                  "encoder": str(bert_encoder_dir)}}},
        {"name": "translator",
         "predictor": {"type": "python", "path": "predictors/translator.py", "config": {"model": str(marian_dir)}}},
    ])
    served = serve(project, ["text-generator", "question-answerer", "translator"], timeout=120)
    yield served
    for api in served.values():
        api.stop()


@pytest.fixture(scope="module")
def paired(tmp_path_factory, gpt2_dir):
    """The text generator in batches of exactly two: a batch closes only once two requests are in
    it, however far apart a loaded machine sends them (one request alone would wait the minute)."""
    project = make_project(tmp_path_factory.mktemp("paired"), [
        _text_generator("paired", gpt2_dir, {"max_batch_size": 2, "batch_interval": "60s"})])
    api = serve(project, ["paired"], timeout=120)["paired"]
    yield api
    api.stop()


FIELD = {"text-generator": "text", "question-answerer": "question", "translator": "text"}


@pytest.mark.parametrize("name", list(FIELD))
def test_good_request(apis, name):
    response = apis[name].post({FIELD[name]: "What is machine learning?"})
    assert response.status_code == 200, response.text
    assert {"text-generator": "completion", "question-answerer": "answer", "translator": "translation"}[name] \
        in response.json()


@pytest.mark.parametrize("name", list(FIELD))
@pytest.mark.parametrize(("body", "headers", "status", "message"), [
    # Typed payloads: the runtime validates the body against the predictor's model (422, the field named).
    ({}, {}, 422, r"payload\.(text|question): Field required"),
    ({"FIELD": ""}, {}, 422, r"payload\.(text|question): String should have at least 1 character"),
    ({"FIELD": " "}, {}, 400, r"field '(text|question)' is empty"),
    ({"FIELD": 7}, {}, 422, r"payload\.(text|question): Input should be a valid string"),
    ({"FIELD": None}, {}, 422, r"payload\.(text|question): Input should be a valid string"),
    (b"\xff\xfe\xfa not utf-8", {"content-type": "application/octet-stream"}, 422, r"Input should be an object"),
    (b"\xff\xfe\xfa not utf-8", {"content-type": "application/json"}, 400, r"not valid JSON"),
    (b"\xff\xfe", {"content-type": "text/plain"}, 400, r"cannot be decoded as utf-8"),
    ({"FIELD": "x" * 100_000}, {}, 413, r"100000 characters; this API accepts at most"),
])
def test_bad_input_is_a_clear_4xx(apis, name, body, headers, status, message):
    if isinstance(body, dict):
        body = {FIELD[name] if k == "FIELD" else k: v for k, v in body.items()}
    response = apis[name].post(body, headers=headers)
    assert response.status_code == status, response.text
    assert re.search(message, error_of(response)), error_of(response)


def test_a_bad_request_in_a_batch_fails_alone(apis, paired):
    payloads = [{"text": "Hi John, I hope you are"}, {"text": ""}, {"text": "See you"}, {"text": 3}]
    before = batch_metrics(paired)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(paired.post, payloads))
    assert [r.status_code for r in responses] == [200, 422, 200, 422], [r.text for r in responses]
    assert responses[0].json()["completion"] == apis["text-generator"].post(payloads[0]).json()["completion"]
    batches, requests = (after - then for after, then in zip(batch_metrics(paired), before, strict=True))
    assert (batches, requests) == (1, 2)  # the two good requests ran in one batch


def batch_metrics(api):
    """(batches run, requests they held) so far."""
    metrics = api.client.get("/metrics").text
    found = [re.search(rf"^mlserve_batch_size_{name}(?:\{{[^}}]*\}})? (\S+)", metrics, re.M) for name in ("count", "sum")]
    return tuple(float(match.group(1)) if match else 0.0 for match in found)


def test_streamed_pieces_make_the_completion(apis):
    api = apis["text-generator"]
    pieces = api.stream({"text": "Thanks for the update on the"})
    assert "".join(pieces) == api.post({"text": "Thanks for the update on the"}).json()["completion"]


def test_streaming_bad_input_is_a_4xx_not_a_broken_stream(apis):
    response = apis["text-generator"].post({"text": " "}, headers={"accept": "text/event-stream"})
    assert response.status_code == 400 and "is empty" in error_of(response)
    response = apis["text-generator"].post({"text": ""}, headers={"accept": "text/event-stream"})
    assert response.status_code == 422 and "payload.text" in error_of(response)


@pytest.mark.parametrize("name", list(FIELD))
def test_openapi_describes_the_typed_payload(apis, name):
    post = apis[name].client.get("/openapi.json").json()["paths"][f"/{name}"]["post"]
    body = post["requestBody"]["content"]["application/json"]
    assert body["example"][FIELD[name]] and body["schema"]["$ref"].startswith("#/components/schemas/")
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
