import importlib
import sys
from pathlib import Path

import pytest
from tiny_gguf import write_tiny_llama_gguf


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path in which a test installs packages: make(name, {relpath: bytes})."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(name: str, files: dict[str, bytes]) -> Path:
        pkg = root / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text("raise ImportError('a weights package must not be imported')\n")
        for rel, data in files.items():
            (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
            (pkg / rel).write_bytes(data)
        importlib.invalidate_caches()
        return pkg

    yield make
    for name in [n for n in sys.modules if n.startswith("fakeweights")]:
        del sys.modules[name]
