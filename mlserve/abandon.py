"""Whether the request a predictor is working for was given up (superseded by a newer request of
its session, timed out, or its client disconnected), readable from the predictor's own thread.

The runtime cannot stop a thread that runs `predict`; it marks the request given up instead, and
work that can stop early (a decode loop dropping a row at its next step) asks `current()`.
The runtime opens a mark per request in the request's context, which it carries into the
predictor's thread; outside a request nothing is ever given up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar

_MARK: ContextVar[threading.Event | None] = ContextVar("mlserve_abandoned", default=None)


def open_mark() -> threading.Event:
    """A new mark for the request running in this context (the runtime sets it to give up)."""
    mark = threading.Event()
    _MARK.set(mark)
    return mark


def current() -> Callable[[], bool]:
    """A check that says whether the calling request was given up (always false outside one)."""
    mark = _MARK.get()
    return mark.is_set if mark is not None else _never


def _never() -> bool:
    return False
