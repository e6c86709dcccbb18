"""Continuous batching (iteration-level scheduling, as in Orca, vLLM and TGI) on one llama.cpp context.

One thread owns the context and runs one `llama_decode` per step over every running row: the
next token of each row that is generating, and a chunk of the prompt of each row that is still
being read (`prefill_chunk` tokens a step, so a long prompt never stalls the others for long).
Rows join between steps and leave at once: after their last step, at an end-of-text token, or
at the next step after their caller gave up (closed its iterator, or the request it serves was
superseded, timed out or disconnected: mlserve.abandon). Each row streams its own tokens.

Sequences and their KV reuse are BatchedDecoder's (llamacpp_batch.py): a joining row takes the
free sequence sharing the longest start with its prompt and only runs the rest.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from mlserve.errors import MlserveError, PredictorError, Superseded
from mlserve.models.llamacpp_batch import BatchedDecoder
from mlserve.models.next_tokens import NextTokens

_END = object()  # a row's queue: no more tokens
_GIVEN_UP = object()  # a row's queue: the row left because its caller gave up


class _Row:
    __slots__ = ("prompt", "steps_left", "logprobs", "gone", "seq", "pending", "last", "out")

    def __init__(self, prompt: list[int], steps: int, logprobs: bool, gone: Callable[[], bool]):
        self.prompt, self.steps_left, self.logprobs, self.gone = prompt, steps, logprobs, gone
        self.seq = -1
        self.pending: list[int] = []  # prompt tokens not run yet; then the one token to run next
        self.last = False  # whether `pending` ends the prompt (its logits give a token)
        self.out: queue.SimpleQueue = queue.SimpleQueue()  # (id, logprob), an error, or _END


class DecodeLoop:
    """Rows of any number of callers decoded together by one thread (started on the first row)."""

    def __init__(self, decoder: BatchedDecoder, *, rows: int, stop_ids: set[int], prefill_chunk: int = 128):
        self._decoder, self._seqs, self._stop_ids, self._chunk = decoder, rows, stop_ids, prefill_chunk
        self._waiting: deque[_Row] = deque()
        self._running: list[_Row] = []
        self._wake = threading.Condition()
        self._decoding = threading.Lock()  # held by the loop over a step; forget() waits for it
        self._thread: threading.Thread | None = None
        self.steps_run = 0  # llama_decode steps so far (a test sees rows share them)

    def steps(self, rows: Sequence[Sequence[int]], max_steps: int, logprobs: bool,
              gone: Callable[[], bool]) -> Iterator[NextTokens]:
        """Like BatchedDecoder.steps, each row decoded beside whatever else runs. A row that ended
        (end-of-text) repeats its last id. Closing the iterator takes the rows out."""
        if max_steps <= 0:
            return
        mine = [_Row(list(row), max_steps, logprobs, gone) for row in rows]
        with self._wake:
            self._waiting.extend(mine)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="llamacpp-decode-loop", daemon=True)
                self._thread.start()
            self._wake.notify()
        try:
            latest: list[tuple[int, float] | None] = [None] * len(mine)
            ended = [False] * len(mine)
            for _ in range(max_steps):
                for i, row in enumerate(mine):
                    item = _END if ended[i] else row.out.get()
                    if item is _GIVEN_UP:
                        raise Superseded("this text's request was given up (superseded, timed out or its client "
                                         "left) before its text was done", hint="read the newer request's answer")
                    if isinstance(item, BaseException):
                        raise item
                    if item is _END:
                        ended[i] = True  # an end-of-text token came: it stands for every later step
                    else:
                        latest[i] = cast("tuple[int, float]", item)
                # A row's token always comes before its _END, so every row has one by now.
                steps = cast("list[tuple[int, float]]", latest)
                yield NextTokens([t for t, _ in steps], [p for _, p in steps] if logprobs else None)
        finally:
            for row in mine:
                row.gone = _always  # leaves at the next step (or is never admitted)

    def _loop(self) -> None:
        while True:
            with self._wake:
                for row in [row for row in (*self._running, *self._waiting) if row.gone()]:
                    (self._running if row in self._running else self._waiting).remove(row)
                    row.out.put(_GIVEN_UP)  # wakes a caller still waiting (its request was given up)
                while not self._running and not self._waiting:
                    self._wake.wait()
            with self._decoding:
                with self._wake:
                    self._admit()
                    running = list(self._running)
                self._step(running)

    def forget(self) -> None:
        """Drop what every sequence holds, between steps (rows running then fail, as after a bad decode)."""
        with self._decoding, self._wake:
            self._decoder.forget()
            for row in self._running:
                row.out.put(PredictorError("the model's cache was cleared while this text ran", hint="try again"))
                row.gone = _always

    def _admit(self) -> None:
        """Waiting rows into free sequences, first come first served."""
        free = [seq for seq in range(self._seqs) if seq not in {row.seq for row in self._running}]
        while self._waiting and free:
            row = self._waiting.popleft()
            row.seq = self._decoder.closest(row.prompt, free)
            free.remove(row.seq)
            row.pending = self._decoder.trim(row.seq, row.prompt)
            self._running.append(row)

    def _step(self, running: list[_Row]) -> None:
        """One llama_decode: one token of every generating row, chunks of the prompts being read."""
        budget = max(self._chunk, 1)
        parts, wanted = [], []
        for row in running:
            if row.steps_left == 0 or not row.pending:
                continue
            take = len(row.pending) if len(row.pending) == 1 else min(len(row.pending), budget)
            budget = max(budget - take, 1)
            parts.append((row, row.pending[:take]))
            wanted.append(take == len(row.pending))
        if not parts:
            return
        try:
            next_ids = self._decoder.run([(row.seq, tokens) for row, tokens in parts],
                                         any(row.logprobs for row, _ in parts), wanted)
        except Exception as exc:  # the context is cleared: every row in it fails, the loop goes on
            if not isinstance(exc, MlserveError):
                exc = PredictorError(f"llama.cpp failed in the decode loop: {exc!r}", hint="try again")
            with self._wake:
                for row in self._running:
                    row.out.put(exc)
                    row.gone = _always
            return
        self.steps_run += 1
        for k, (row, tokens) in enumerate(parts):
            del row.pending[:len(tokens)]
            if not wanted[k]:
                continue
            token = next_ids[k]
            row.out.put((token, next_ids.logprobs[k] if next_ids.logprobs is not None else 0.0))
            row.steps_left -= 1
            if row.steps_left == 0 or token in self._stop_ids:
                row.out.put(_END)
                row.gone = _always
            else:
                row.pending = [token]


def _always() -> bool:
    return True
