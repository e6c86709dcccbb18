"""Browser tests of the compose page: bench/browser.py drives Chromium; the CLI, local-backend
and runtime harnesses deploy or serve what the page talks to."""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS.parent, TESTS / "deploy", TESTS / "cli"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Skips without Chromium or Playwright, or fails when MLSERVE_REQUIRE_BROWSER=1 (CI)."""
    from bench.browser import missing

    why = missing()
    if why is None:
        return
    if os.environ.get("MLSERVE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MLSERVE_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)
