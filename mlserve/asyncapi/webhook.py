"""The optional webhook: a finished item's record POSTed to `webhook.url`, retried with backoff.

A target that stays down does not lose the result: the record keeps it and says the delivery failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from mlserve.spec.asyncapi import Webhook

log = logging.getLogger("mlserve.asyncapi")


def deliver(hook: Webhook, record: dict, wait: Callable[[float], object] = time.sleep) -> dict:
    """POST `record`; what the record then says about it: {"delivered", "attempts", "error"?}."""
    error = ""
    for attempt in range(1, hook.retries + 2):
        try:
            response = httpx.post(hook.url, json=record, timeout=hook.timeout)
            if response.is_success:
                return {"delivered": True, "attempts": attempt}
            error = f"{hook.url} answered {response.status_code}"
        except httpx.HTTPError as e:
            error = f"{hook.url}: {e!r}"
        log.warning("item %s: webhook attempt %d failed: %s", record.get("id"), attempt, error)
        if attempt <= hook.retries:
            wait(hook.backoff * 2 ** (attempt - 1))
    return {"delivered": False, "attempts": hook.retries + 1, "error": error}
