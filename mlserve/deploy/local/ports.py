"""Loopback ports for local APIs: allocated once per API, recorded, reused on every deploy."""

from __future__ import annotations

import hashlib
import socket

# Outside Linux's ephemeral range (32768+), so outgoing connections never hold our ports.
DEFAULT_RANGE = (8900, 9900)


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_port(taken: set[int], port_range: tuple[int, int] = DEFAULT_RANGE, key: str = "") -> int | None:
    """A free port in the range not recorded for another API; None if there is none.

    The search starts at a point derived from `key` (project folder + API name), not at the bottom
    of the range: two projects deploying at the same moment then rarely reach for the same port in
    the instant between our check and the runtime's bind."""
    low, high = port_range
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % (high - low)
    for i in range(high - low):
        port = low + (start + i) % (high - low)
        if port not in taken and port_is_free(port):
            return port
    return None
