"""The compose page's browser test uses bench/browser.py and the CLI/local-backend harnesses."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS.parent, TESTS / "deploy", TESTS / "cli"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
