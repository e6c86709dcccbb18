"""The real `tritonclient[http]` against the seed text-generator (a typed predictor) served by the
real runtime: the Open Inference Protocol's health, metadata and infer."""

import numpy as np
import pytest
import tritonclient.http as triton
from protocol_constants import KEY
from tritonclient.utils import InferenceServerException

MODEL = "text-generator"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXT = "Thanks for the update on the"


@pytest.fixture(scope="module")
def client(text_api):
    c = triton.InferenceServerClient(text_api.url.removeprefix("http://"))
    yield c
    c.close()


def test_health_is_open_and_the_model_is_ready(client):
    assert client.is_server_live() and client.is_server_ready()  # probes: no key needed
    assert client.is_model_ready(MODEL, headers=AUTH)
    assert not client.is_model_ready(MODEL)  # everything else needs the key


def test_metadata_names_the_typed_fields(client):
    meta = client.get_model_metadata(MODEL, headers=AUTH)
    assert meta["name"] == MODEL
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [1]},
                              {"name": "max_new_tokens", "datatype": "INT64", "shape": [1]},
                              {"name": "gate", "datatype": "BOOL", "shape": [1]}]
    assert meta["outputs"] == [{"name": "completion", "datatype": "BYTES", "shape": [1]},
                               {"name": "tokens", "datatype": "INT64", "shape": [1]},
                               {"name": "latency_ms", "datatype": "FP32", "shape": [1]},
                               {"name": "shown", "datatype": "BOOL", "shape": [1]},
                               {"name": "reason", "datatype": "BYTES", "shape": [1]},
                               {"name": "withheld", "datatype": "BYTES", "shape": [1]},
                               {"name": "first_word_prob", "datatype": "FP32", "shape": [1]}]


@pytest.mark.parametrize("binary", [True, False])  # True: the client's default binary tensor extension
def test_infer_gives_the_native_answer(text_api, client, binary):
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([TEXT.encode()], dtype=np.object_), binary_data=binary)
    tokens = triton.InferInput("max_new_tokens", [1], "INT64")
    tokens.set_data_from_numpy(np.array([6], dtype=np.int64), binary_data=binary)
    result = client.infer(MODEL, [text, tokens], headers=AUTH, request_id="r-1")
    expected = text_api.post({"text": TEXT, "max_new_tokens": 6}).json()
    assert expected["completion"]
    assert result.as_numpy("completion")[0] == expected["completion"]  # JSON outputs: BYTES come as str
    assert result.as_numpy("tokens")[0] == expected["tokens"]
    assert result.as_numpy("latency_ms")[0] > 0
    assert result.get_response()["id"] == "r-1"


def test_infer_returns_the_requested_outputs_only(client):
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([TEXT.encode()], dtype=np.object_))
    result = client.infer(MODEL, [text], outputs=[triton.InferRequestedOutput("tokens")], headers=AUTH)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["tokens"]


def test_infer_with_a_wrong_datatype_says_which_input(client):
    text = triton.InferInput("text", [1], "FP32")
    text.set_data_from_numpy(np.array([1.5], dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"input 'text' is BYTES, got 'FP32'"):
        client.infer(MODEL, [text], headers=AUTH)
    missing = triton.InferInput("max_new_tokens", [1], "INT64")
    missing.set_data_from_numpy(np.array([3], dtype=np.int64))
    with pytest.raises(InferenceServerException, match=r"payload\.text: Field required"):
        client.infer(MODEL, [missing], headers=AUTH)
