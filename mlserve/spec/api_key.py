"""An API's key (`networking.api_key_env`): read from the environment, never from cortex.yaml."""

from __future__ import annotations

import os

from mlserve.errors import SpecError


def read_api_key(api) -> str | None:
    """The key held in the variable `networking.api_key_env` names; None for an open API.
    Refuses (SpecError) when the variable is unset or empty: an API meant to be protected
    must never be served open."""
    name = api.networking.api_key_env
    if name is None:
        return None
    key = os.environ.get(name, "")
    if not key:
        raise SpecError(f"the environment variable {name} holding the API key is not set or empty",
                        api=api.name, field="networking.api_key_env",
                        hint=f"export {name}=<key> before `mlserve deploy` (and before `mlserve predict`)")
    return key
