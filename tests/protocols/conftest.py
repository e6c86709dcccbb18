"""The seed text-generator behind the real runtime, for the protocol clients' tests: a tiny GPT-2
(real GPT-2 tokenizer, a chat template of our own) with server-side batching and an API key."""

import json
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / d) for d in ("predictors", "models")]

from protocol_constants import KEY, TEMPLATE  # noqa: E402
from runtime_harness import make_project, serve  # noqa: E402
from tiny_models import gpt2_tokenizer, tiny_gpt2  # noqa: E402


@pytest.fixture(scope="session")
def chat_gpt2_dir(tmp_path_factory) -> Path:
    folder = tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2-chat"), gpt2_tokenizer(tmp_path_factory.mktemp("npm")))
    config = folder / "tokenizer_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "chat_template": TEMPLATE}))
    return folder


def _text_api(folder: Path, model: Path, batching: dict):
    os.environ["PROTOCOL_TEST_KEY"] = KEY  # the runtime reads networking.api_key_env from its environment
    project = make_project(folder, [
        {"name": "text-generator",
         "predictor": {"type": "python", "path": "predictors/text_generator.py",
                       # gate off: a random model is never confident, and the routes are under test here
                       "config": {"model": str(model), "max_new_tokens": 8, "gate": False},
                       "server_side_batching": batching},
         "networking": {"api_key_env": "PROTOCOL_TEST_KEY"}}])
    api = serve(project, ["text-generator"], timeout=180)["text-generator"]
    api.client.headers["authorization"] = f"Bearer {KEY}"
    return api


@pytest.fixture(scope="session")
def text_api(tmp_path_factory, chat_gpt2_dir):
    # A long window, so requests sent together land in one batch.
    api = _text_api(tmp_path_factory.mktemp("project"), chat_gpt2_dir, {"max_batch_size": 4, "batch_interval": "300ms"})
    yield api
    api.stop()
    os.environ.pop("PROTOCOL_TEST_KEY", None)


@pytest.fixture(scope="module")
def paired_text_api(tmp_path_factory, chat_gpt2_dir, text_api):
    """Batches of exactly two: a batch closes only once two requests are in it, however far apart
    a loaded machine sends them (one request alone would wait the whole minute). After text_api,
    which keeps the key's variable set for the session."""
    api = _text_api(tmp_path_factory.mktemp("paired"), chat_gpt2_dir, {"max_batch_size": 2, "batch_interval": "60s"})
    yield api
    api.stop()
