"""Fine-tuning tests share the tiny llama GGUF of tests/models and the deploy harness of tests/deploy."""

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / d) for d in ("models", "deploy", "cli", "predictors")]

from tiny_gguf import write_tiny_llama_gguf  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random llama (byte-level tokenizer) as a .gguf reference: trains in milliseconds."""
    return str(write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf", hidden=32))


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Two small text files in a folder (a few thousand byte-level tokens)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    line = "The knight rode to the castle and the gate was shut against him. "
    (folder / "a.txt").write_text(line * 40)
    (folder / "b.md").write_text("The dragon slept on the gold of the old kings. " * 40)
    return folder
