"""The real `openai` client against the seed text-generator served by the real runtime."""

import re
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from protocol_constants import KEY, TEMPLATE

from mlserve.models import render_chat

MODEL = "text-generator"
PROMPT = "Thanks for the update on the"


@pytest.fixture(scope="module")
def client(text_api):
    with openai.OpenAI(base_url=f"{text_api.url}/{MODEL}/v1", api_key=KEY, max_retries=0) as c:
        yield c


def native(api, text, tokens=8):
    response = api.post({"text": text, "max_new_tokens": tokens})
    assert response.status_code == 200, response.text
    return response.json()


def metric(api, name):
    text = api.client.get("/metrics").text
    match = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\S+)", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_completion_is_the_native_completion(text_api, client):
    answer = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6)
    expected = native(text_api, PROMPT, 6)
    assert expected["completion"]  # the tiny model writes words, so the comparison means something
    [choice] = answer.choices
    assert choice.text == expected["completion"]
    assert choice.finish_reason in ("stop", "length")
    assert answer.object == "text_completion" and answer.model == MODEL and answer.id.startswith("cmpl-")
    assert answer.usage.completion_tokens == expected["tokens"]
    assert answer.usage.prompt_tokens == 6  # GPT-2 BPE: "Thanks| for| the| update| on| the"
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_chat_uses_the_model_chat_template(text_api, client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How is the weather"}]
    answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)
    rendered = render_chat(TEMPLATE, messages)
    assert rendered.startswith("<<system>> Be brief.")
    [choice] = answer.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == native(text_api, rendered)["completion"]
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    plain = client.completions.create(model=MODEL, prompt=rendered, max_tokens=8)
    assert answer.usage.prompt_tokens == plain.usage.prompt_tokens


def test_streams_join_to_the_answer(client):
    streamed = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, stream=True)
    chunks = list(streamed)
    whole = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8)
    assert len(chunks) >= 2
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "stop"
    chat = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}],
                                               stream=True))
    assert chat[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chat)
    assert content == client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}]).choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_sequence_cuts_the_text(text_api, client, stream):
    full = native(text_api, PROMPT)["completion"]
    stop = full.split()[1][:2]  # inside the second word: the cut falls mid-stream
    answer = client.completions.create(model=MODEL, prompt=PROMPT, stop=[stop, "never-there"], stream=stream)
    text = "".join(c.choices[0].text for c in answer) if stream else answer.choices[0].text
    assert text == full[:full.index(stop)]


def test_a_wrong_key_is_401(text_api):
    with openai.OpenAI(base_url=f"{text_api.url}/{MODEL}/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.completions.create(model=MODEL, prompt=PROMPT)
    assert caught.value.status_code == 401
    assert "the API key is wrong" in str(caught.value)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"logprobs": 2}, "logprobs"),
    ({"n": 2}, "n"),
    ({"temperature": 0.7}, "temperature"),  # the predictor's own refusal: it decodes greedily
    ({"extra_body": {"tools": [{"type": "function"}]}}, "tools"),
])
def test_unsupported_fields_are_400_in_openai_error_shape(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=MODEL, prompt=PROMPT, **kwargs)
    body = caught.value.body  # the client's view of the `error` object
    assert body["param"] == param and body["code"] == "unsupported_parameter", body
    assert body["type"] == "invalid_request_error" and body["message"]
    raw = caught.value.response.json()
    assert raw["request_id"] == caught.value.response.headers["x-request-id"] and raw["hint"]


def test_neutral_values_of_other_fields_are_accepted(client):
    answer = client.completions.create(model=MODEL, prompt=PROMPT, presence_penalty=0, echo=False, n=1)
    assert answer.choices[0].text == client.completions.create(model=MODEL, prompt=PROMPT).choices[0].text


def test_models_lists_the_api_and_another_model_is_404(client):
    assert [m.id for m in client.models.list()] == [MODEL]
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-4o", prompt=PROMPT)
    assert caught.value.body["code"] == "model_not_found"


def test_openai_and_native_requests_share_batches_and_metrics(paired_text_api):
    api = paired_text_api
    batches, batched = metric(api, "mlserve_batch_size_count"), metric(api, "mlserve_batch_size_sum")
    requests = metric(api, 'mlserve_requests_total{api="text-generator",code="200"}')
    with (openai.OpenAI(base_url=f"{api.url}/{MODEL}/v1", api_key=KEY, max_retries=0) as paired,
          ThreadPoolExecutor(2) as pool):
        ours = pool.submit(paired.completions.create, model=MODEL, prompt=PROMPT)
        theirs = pool.submit(native, api, PROMPT)
        assert ours.result().choices[0].text == theirs.result()["completion"]
    assert metric(api, "mlserve_batch_size_sum") - batched == 2
    assert metric(api, "mlserve_batch_size_count") - batches == 1  # one batch held both
    assert metric(api, 'mlserve_requests_total{api="text-generator",code="200"}') - requests == 2
