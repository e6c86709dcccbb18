"""Reading a local runtime's `/metrics`, recent errors and models over HTTP (the reader is contract/metrics.py)."""

from __future__ import annotations

import httpx

from mlserve.contract.metrics import Summary, summarize


def scrape(port: int, timeout: float = 1.0) -> Summary | None:
    """The API's summary, or None when its metrics cannot be read right now."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
        response.raise_for_status()
        return summarize(response.text)
    except (httpx.HTTPError, ValueError):
        return None


def recent_error_lines(text: str) -> list[str]:
    """`get API`'s lines for a runtime's GET /recent-errors answer (latest first)."""
    import json
    import time

    try:
        entries = json.loads(text).get("recent", [])
    except (ValueError, AttributeError):
        return []
    return [f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(e['time']))}  {e['status']}  "
            f"POST {e['path']}  request id {e['request_id']}" for e in reversed(entries)]


def scrape_recent_errors(port: int, timeout: float = 1.0) -> list[str]:
    from mlserve.runtime.recent import PATH

    try:
        response = httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError:
        return []
    return recent_error_lines(response.text)


def is_multi_model(spec: dict) -> bool:
    """Whether a deployed API's spec (as recorded) serves many models."""
    return bool((spec.get("predictor") or {}).get("multi_model_reloading"))


def models_page(text: str | None) -> dict | None:
    """A `GET /models` answer with its models as rows (model_rows); None when it is not one."""
    import json

    try:
        page = json.loads(text or "")
        return {**page, "models": model_rows(page["models"])}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def model_rows(models: list[dict]) -> list[dict]:
    """`deploy`'s and `get API`'s row per model of a multi-model API's `GET /models` answer: name,
    state (loaded, on disk, not loaded, failed), versions, last used, detail (its error, or which
    version is where and its load time)."""
    rows = []
    for m in models:
        latest, failed = m.get("latest"), m.get("failed") or {}
        if m.get("problem") or (latest is not None and str(latest) in failed and not m.get("in_memory")):
            state, detail = "failed", m.get("problem") or failed[str(latest)]
        elif m.get("in_memory"):
            state = "loaded"
            seconds = (m.get("load_seconds") or {}).get(str(max(m["in_memory"])))
            detail = f"version {max(m['in_memory'])} in memory" + (f", loaded in {seconds:.2f}s" if seconds else "")
        elif m.get("on_disk"):
            state, detail = "on disk", f"version {max(m['on_disk'])} in the model cache"
        else:
            state, detail = "not loaded", "loads on its first request"
        rows.append({"name": m["name"], "state": state, "versions": m.get("versions") or [],
                     "last_used": m.get("last_used"), "detail": detail})
    return rows


def scrape_models(port: int, timeout: float = 2.0) -> dict | None:
    """A local multi-model API's `GET /models` answer (models as rows), or None when it cannot be read now."""
    from mlserve.runtime.multimodel import PATH

    try:
        response = httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return models_page(response.text)
