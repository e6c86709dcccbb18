import importlib.util
from pathlib import Path

import pytest
import torch
from tiny_models import gpt2_tokenizer, tiny_bert, tiny_gpt2, tiny_marian

ROOT = Path(__file__).resolve().parents[2]
PREDICTORS = ROOT / "predictors"
REFERENCE = PREDICTORS / "reference" / "machine_learning.md"
_scores: list[str] = []


def load_predictor(name: str, config: dict):
    """Load predictors/<name>.py by path, as the runtime does, and build its one Predictor class."""
    spec = importlib.util.spec_from_file_location(f"seed_{name}", PREDICTORS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [cls] = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__
             and hasattr(v, "predict")]
    return cls(config)


def predictor_module(name: str):
    spec = importlib.util.spec_from_file_location(f"seed_{name}_module", PREDICTORS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    return tiny_gpt2(folder, gpt2_tokenizer(tmp_path_factory.mktemp("npm")))


@pytest.fixture(scope="session")
def bert_encoder_dir(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"), REFERENCE.read_text(), qa=False)


@pytest.fixture(scope="session")
def bert_qa_dir(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert-qa"), REFERENCE.read_text(), qa=True)


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory) -> Path:
    return tiny_marian(tmp_path_factory.mktemp("tiny-marian"), REFERENCE.read_text())


@pytest.fixture(scope="session")
def report_score():
    """record(line): printed in the session summary (eval scores for the README)."""
    return _scores.append


def pytest_terminal_summary(terminalreporter):
    if _scores:
        terminalreporter.section("evaluation scores")
        for line in _scores:
            terminalreporter.write_line(line)
