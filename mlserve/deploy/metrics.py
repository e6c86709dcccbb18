"""Reading a local runtime's `/metrics` and recent errors over HTTP (the reader is contract/metrics.py)."""

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
