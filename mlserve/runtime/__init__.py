"""The serving runtime: predictor loading, the FastAPI app, batching, streaming, limits, metrics.

`create_app(project_root, api)` builds the app for one API; `python -m mlserve.runtime`
serves it (see `server.py`). Imports are lazy so the entrypoint can prepare the environment
(e.g. PROMETHEUS_MULTIPROC_DIR) before fastapi and prometheus-client load.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "load_predictor_class"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mlserve.runtime.app import create_app

        return create_app
    if name == "load_predictor_class":
        from mlserve.runtime.loader import load_predictor_class

        return load_predictor_class
    raise AttributeError(f"module 'mlserve.runtime' has no attribute '{name}'")
