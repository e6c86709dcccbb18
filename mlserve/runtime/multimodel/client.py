"""`python_client`, injected into a multi-model predictor's __init__ (Cortex's contract), and the
per-request lease that pins the models a request got until its answer is sent.

The data plane opens a lease per request (a context variable, which the Runner carries into the
predictor's thread); `get_model` adds each model it hands out, and the data plane releases them
all when the request ends. Outside a request (e.g. a thread of the predictor's own) nothing pins.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from mlserve.runtime.multimodel.store import Loaded, ModelStore

_LEASE: ContextVar[list[Loaded] | None] = ContextVar("mlserve_model_lease", default=None)


class PythonClient:
    def __init__(self, store: ModelStore) -> None:
        self._store = store

    def get_model(self, model_name: str | None = None, model_version: str | int = "latest") -> Any:
        """What load_model returned for `model_version` ("latest" or a number) of `model_name` (None when
        the API serves one model). Loads it on first use; raises ModelNotServed (404) for an unknown
        model or version, ModelLoadFailed (500) when that version does not load."""
        slot = self._store.acquire(model_name, model_version)
        lease = _LEASE.get()
        if lease is None:
            self._store.release(slot)
        else:
            lease.append(slot)
        return slot.value

    def get_versions(self, model_name: str | None = None) -> list[int]:
        """The versions of `model_name` there are now, lowest first."""
        listing = self._store.listing.models
        name = model_name if model_name is not None else next(iter(listing), None)
        return sorted(listing.get(name, {})) if name is not None else []

    def get_models(self) -> list[str]:
        """The names of the API's models, sorted."""
        return sorted(self._store.listing.models)


def open_lease() -> list[Loaded]:
    """A new lease for the current request (the current context)."""
    lease: list[Loaded] = []
    _LEASE.set(lease)
    return lease
