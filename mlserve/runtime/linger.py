"""A lingering close, as nginx's `lingering_close`: after an answer sent while the client may still
be sending (a refused request head, a body refused before it was read), shut down the sending side
and read and discard what still arrives, then close.

Closing a socket with unread data sends a TCP reset, and a reset may destroy the answer in the
client's receive buffer before the client reads it: a 431 or 413 would reach it as "connection reset".
Bounded: at most `LINGER_SECONDS` in all, `LINGER_BYTES` discarded, or until `LINGER_IDLE` seconds
pass with nothing received (nginx: lingering_time 30s, lingering_timeout 5s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

LINGER_SECONDS = 5.0
LINGER_IDLE = 1.0
LINGER_BYTES = 256 * 1024 * 1024


class LingeringTransport:
    """A connection's transport as the HTTP protocol sees it: `close()` lingers while `unread()` says
    request bytes may still come; `is_closing()` is true from the start of the lingering."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 unread: Callable[[], bool]) -> None:
        self._transport, self._loop, self._unread = transport, loop, unread
        self.lingering = False
        self._discarded, self._heard, self._end = 0, False, 0.0

    def __getattr__(self, name: str):
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering:
            return  # the lingering ends it
        if self._unread():
            self.linger()
        else:
            self._transport.close()

    def linger(self) -> None:
        """Send FIN after what was written, then discard what arrives until the client stops (or a bound)."""
        if self.lingering or self._transport.is_closing():
            return
        self.lingering, self._heard = True, True
        self._end = self._loop.time() + LINGER_SECONDS
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._transport.resume_reading()
        self._check()

    def discard(self, data: bytes) -> None:
        """What arrived while lingering."""
        self._heard = True
        self._discarded += len(data)
        if self._discarded > LINGER_BYTES:
            self._transport.close()

    def _check(self) -> None:
        if self._transport.is_closing():
            return
        if not self._heard or self._loop.time() >= self._end:
            self._transport.close()
            return
        self._heard = False
        self._loop.call_later(LINGER_IDLE, self._check)
