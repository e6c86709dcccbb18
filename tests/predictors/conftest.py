from pathlib import Path

import pytest
import torch
from seed_predictors import REFERENCE
from tiny_models import gpt2_tokenizer, tiny_bert, tiny_gpt2, tiny_marian

_scores: list[str] = []


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
