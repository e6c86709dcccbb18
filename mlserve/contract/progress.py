"""Progress messages a backend reports while it works ("building image", "qa: 1/2 ready").

A message is a step (printed and kept) unless it is a `Transient`: a status line that the next
message replaces (the CLI's spinner). `Transient` is a str, so any `Callable[[str], None]` can
receive both.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


class Transient(str):
    """A status that the next message replaces, e.g. "qa: loading… 12s"."""


def is_transient(message: str) -> bool:
    return isinstance(message, Transient)
