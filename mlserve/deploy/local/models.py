"""Multi-model APIs on the local backend: the deployed models list, and each model's state after a deploy.

Every deploy writes the API's models list (spec/hashing.py `models_document`, local references
made absolute: the process runs from a snapshot) to `.mlserve/models/<api>.json`, which the
runtime re-reads (`--models`, runtime/multimodel/models_list.py). The list is outside the runtime
hash, so a change reaches the running process without a restart; `wait_applied` then polls its
`GET /models` until it serves that list and reports each model: loaded, on disk, not loaded yet,
or its error. A model that fails is reported as such; the others keep serving.
"""

from __future__ import annotations

import json
import time

from mlserve.deploy.local.state import APIRecord, StateDir
from mlserve.deploy.metrics import scrape_models
from mlserve.files import write_json
from mlserve.spec import APISpec, Project, models_document


def write(state: StateDir, project: Project, api: APISpec) -> None:
    """Write the API's deployed models list (or remove a stale one when it serves no list)."""
    document = models_document(api, project.root)
    path = state.models_file(api.name)
    if document is None:
        path.unlink(missing_ok=True)
        return
    state.private(path.parent)
    write_json(path, document)


def list_changed(old: APIRecord, api: APISpec) -> bool:
    """Whether the recorded deploy served another models list than `api` does."""
    before = (old.spec.get("predictor") or {}).get("multi_model_reloading") or {}
    config = getattr(api.predictor, "multi_model_reloading", None)  # a TaskAPI's definition has none
    return config is not None and {k: before.get(k) for k in config.models_list()} != config.models_list()


def wait_applied(state: StateDir, rec: APIRecord, timeout: float = 120.0) -> list[dict]:
    """Each model's row once the API serves the list this deploy wrote (or, past `timeout`, one row saying so)."""
    wanted = json.loads(state.models_file(rec.name).read_text())["version"]
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        seen = scrape_models(rec.port)
        if seen is not None and seen.get("list") == wanted:
            return seen["models"]
        time.sleep(0.1)
    return [{"name": "*", "state": "failed", "versions": [], "last_used": None,
             "detail": f"the API did not take the new models list within {timeout:.0f}s (it serves "
                       f"{(seen or {}).get('list') or 'another'}); `mlserve logs {rec.name}` shows why, "
                       f"`mlserve refresh {rec.name}` restarts it with the deployed list"}]
