"""Client tests share the local-backend harness (project copies, leftover-process checks) with tests/deploy."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
