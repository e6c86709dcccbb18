"""mlserve: write a Predictor, list it in cortex.yaml, run `mlserve deploy`."""

from mlserve.errors import MlserveError, RequestError

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "MlserveError", "RequestError", "__version__", "stream_result"]

# Loaded on first use, so `import mlserve` stays cheap (no httpx, no deploy backends).
_LAZY = {"Client": "mlserve.client", "AsyncClient": "mlserve.client", "stream_result": "mlserve.streamed"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlserve' has no attribute {name!r}")
