"""What a generator's `steps` yields: a module of its own, so engines.py (which picks an engine)
and the engines (which make these) do not import each other."""

from __future__ import annotations

from collections.abc import Sequence


class NextTokens(list):
    """One step's greedy next token id per row (a plain list of ints), and, when `steps` was
    asked for them, each id's log-probability under the model (`logprobs`, else None)."""

    def __init__(self, ids: Sequence[int] = (), logprobs: Sequence[float] | None = None):
        super().__init__(ids)
        self.logprobs = None if logprobs is None else list(logprobs)
