"""`stream_result`: a predictor's whole answer from its own stream, for a `predict` built on `stream`.

A `stream()` generator may end with `return answer` (after its last yield): a streaming client gets
the items, an AsyncAPI with `queue.partial_interval` shows them while it runs and keeps `answer` as
the result. `predict` then runs the same generator to its end, so both give the same answer and the
model runs once either way:

    def predict(self, payload):
        return stream_result(self.stream(payload))
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any


def stream_result(generator: Generator[Any, Any, Any]) -> Any:
    """Run `generator` to its end, dropping its items; what it returned."""
    while True:
        try:
            next(generator)
        except StopIteration as end:
            return end.value
