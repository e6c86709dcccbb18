"""Per-request cancellation and session supersede.

Each request runs inside an `asyncio.timeout(request_timeout)` scope; `RequestControl.cancel`
fires that same scope early, so a timeout, a newer request from the same session and a
client disconnect all stop the work through one mechanism and `reason` says which it was.
A session key comes from the `X-Session-ID` header or the `session_id` query parameter; the
newest request of a session wins (per process).
"""

from __future__ import annotations

import asyncio
import threading

from mlserve import abandon

SUPERSEDED = "superseded"
DISCONNECTED = "disconnected"


class RequestControl:
    __slots__ = ("request_id", "session", "scope", "reason", "mark")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.session: str | None = None
        self.scope: asyncio.Timeout | None = None
        self.reason: str | None = None
        # Set once the request is given up, so a predictor thread can stop early (mlserve/abandon.py).
        self.mark: threading.Event = abandon.open_mark()

    def attach(self, scope: asyncio.Timeout) -> None:
        """Call right after entering a timeout scope; a cancel that came in between fires now."""
        self.scope = scope
        if self.reason is not None:
            scope.reschedule(0)

    def detach(self) -> None:
        self.scope = None

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.mark.set()
        if self.scope is not None:
            try:
                self.scope.reschedule(0)  # a time in the past: expire on the next loop turn
            except RuntimeError:
                pass  # the scope is already expiring or finished


class Sessions:
    def __init__(self) -> None:
        self._current: dict[str, RequestControl] = {}

    def claim(self, key: str, control: RequestControl) -> None:
        """Make `control` the session's current request, cancelling the one it replaces."""
        control.session = key
        older = self._current.get(key)
        self._current[key] = control
        if older is not None and older is not control:
            older.cancel(SUPERSEDED)

    def release(self, control: RequestControl) -> None:
        if control.session is not None and self._current.get(control.session) is control:
            del self._current[control.session]
