"""Which process answers a readiness probe.

A supervisor gives each process it starts a fresh token in `MLSERVE_INSTANCE`; `/readyz` echoes it,
so a probe that reaches some other program on the same port (another project's API that took the
port first) is never mistaken for the process it started.
"""

from __future__ import annotations

import os

from mlserve.contract import env

INSTANCE_ENV = env.INSTANCE


def instance() -> dict[str, str]:
    """The `/readyz` field naming this process, when a supervisor started it."""
    token = os.environ.get(INSTANCE_ENV)
    return {"instance": token} if token else {}
