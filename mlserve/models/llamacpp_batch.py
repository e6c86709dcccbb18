"""Greedy decoding of several rows at once in one llama.cpp context (llama-cpp-python's
low-level API: `llama_batch`, `llama_decode`, the KV memory functions).

Decoding is bound by reading the weights, and one `llama_decode` over the next token of N rows
reads them once, so N rows together cost far less than N rows one after another. Each row is
its own sequence with its own positions (no padding), in a unified KV cache.

Between calls every sequence keeps its KV cache: a row takes the free sequence that shares the
longest start with it and only its other tokens run (someone typing on). A prefix shared by
every row (few-shot examples) runs once into a sequence of its own and is copied into a row's
sequence when that row does not hold it yet; in a unified cache the copy shares the cells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mlserve.errors import PredictorError
from mlserve.models.generation import shared_start
from mlserve.models.next_tokens import NextTokens


class BatchedDecoder:
    """`rows` sequences (plus one for the shared prefix) in the llama.cpp context `ctx`, which
    must be created with `n_seq_max = rows + 1` and `kv_unified`. Not thread-safe: the caller
    holds a lock from the first step to the last."""

    def __init__(self, llama_cpp: Any, ctx: Any, *, n_vocab: int, rows: int, n_batch: int):
        from llama_cpp._internals import LlamaBatch

        self._ll, self._ctx, self._n_vocab, self._n_batch = llama_cpp, ctx, n_vocab, n_batch
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._batch = LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self._prefix_seq = rows
        self._held: list[list[int]] = [[] for _ in range(rows + 1)]  # the tokens each sequence's KV holds
        self.evaluated = 0  # tokens run through the model so far: what KV reuse saves shows here

    def steps(self, rows: Sequence[Sequence[int]], max_steps: int, prefix: Sequence[int] = (), *,
              logprobs: bool = False) -> Iterator[NextTokens]:
        """The greedy next id of every row (`prefix` + row), `max_steps` times (with their
        log-probabilities when asked). Every row goes on to the last step, as in torch; the caller
        ignores a row it has finished."""
        if max_steps <= 0:
            return
        prompts = [[*prefix, *row] for row in rows]
        seqs = self._assign(prompts)
        if prefix:
            self._bring_prefix(list(prefix), seqs)
        next_ids = self.run([(seq, self.trim(seq, prompt)) for seq, prompt in zip(seqs, prompts, strict=True)], logprobs)
        for step in range(max_steps):
            yield next_ids
            if step + 1 < max_steps:
                next_ids = self.run([(seq, [token]) for seq, token in zip(seqs, next_ids, strict=True)], logprobs)

    def _assign(self, prompts: list[list[int]]) -> list[int]:
        """A sequence per row: the free one whose KV shares the longest start with it."""
        free, seqs = list(range(self._prefix_seq)), []
        for prompt in prompts:
            seqs.append(self.closest(prompt, free))
            free.remove(seqs[-1])
        return seqs

    def closest(self, prompt: Sequence[int], free: Sequence[int]) -> int:
        """Of the sequences `free`, the one whose KV shares the longest start with `prompt`."""
        return max(free, key=lambda seq: shared_start(self._held[seq], prompt))

    def _bring_prefix(self, prefix: list[int], seqs: list[int]) -> None:
        """Run the prefix once into its own sequence; copy it into the rows that lack it."""
        if self._held[self._prefix_seq] != prefix:
            rest = self.trim(self._prefix_seq, prefix, leave_last=False)
            if rest:
                self.run([(self._prefix_seq, rest)])
        for seq in seqs:
            if shared_start(self._held[seq], prefix) < len(prefix):
                self._ll.llama_memory_seq_rm(self._memory, seq, -1, -1)
                self._ll.llama_memory_seq_cp(self._memory, self._prefix_seq, seq, -1, -1)
                self._held[seq] = list(prefix)

    def trim(self, seq: int, tokens: list[int], leave_last: bool = True) -> list[int]:
        """Cut the KV of `seq` to the start it shares with `tokens`; return the tokens left to run
        (at least the last one where its logits are needed)."""
        keep = shared_start(self._held[seq], tokens)
        if leave_last:
            keep = min(keep, len(tokens) - 1)
        if keep < len(self._held[seq]):
            # A sliding-window cache drops positions that left the window (its start is then past 0):
            # going back would miss them. Some caches cannot drop a tail at all. Either way: start over.
            lost_start = self._ll.llama_memory_seq_pos_min(self._memory, seq) > 0
            if lost_start or not self._ll.llama_memory_seq_rm(self._memory, seq, keep, -1):
                self._ll.llama_memory_seq_rm(self._memory, seq, -1, -1)
                keep = 0
        del self._held[seq][keep:]
        return tokens[keep:]

    def run(self, parts: list[tuple[int, list[int]]], logprobs: bool = False,
            wanted: Sequence[bool] | None = None) -> NextTokens:
        """Append each part's tokens to its sequence (in as many `llama_decode` calls as the batch
        size needs); the greedy next id after each part's last token (and its log-probability),
        for the parts `wanted` says (all by default; a prompt's chunk before its last needs none)."""
        entries = [(seq, token, len(self._held[seq]) + i, i == len(tokens) - 1 and (wanted is None or wanted[part]), part)
                   for part, (seq, tokens) in enumerate(parts) for i, token in enumerate(tokens)]
        next_ids = NextTokens([0] * len(parts), [0.0] * len(parts) if logprobs else None)
        batch = self._batch.batch
        for start in range(0, len(entries), self._n_batch):
            chunk = entries[start:start + self._n_batch]
            batch.n_tokens = len(chunk)
            for k, (seq, token, pos, last, _) in enumerate(chunk):
                batch.token[k], batch.pos[k], batch.logits[k] = token, pos, last
                batch.seq_id[k][0], batch.n_seq_id[k] = seq, 1
            code = self._ll.llama_decode(self._ctx, batch)
            if code != 0:
                self.forget()
                raise PredictorError(f"llama.cpp could not decode a batch of {len(chunk)} tokens "
                                     f"(llama_decode returned {code})", hint="see the log above; try again")
            self.evaluated += len(chunk)
            for seq, token, *_ in chunk:
                self._held[seq].append(token)
            parts_out = [part for *_, last, part in chunk if last]
            if not parts_out:
                continue
            # The rows asked for, in batch order, from one call: every ctypes call gives up the GIL
            # and waits to get it back, which the request threads of a server make slow.
            logits = np.ctypeslib.as_array(self._ll.llama_get_logits(self._ctx), shape=(len(parts_out), self._n_vocab))
            for row, (part, best) in enumerate(zip(parts_out, logits.argmax(axis=1).tolist(), strict=True)):
                next_ids[part] = best
                if next_ids.logprobs is not None:
                    next_ids.logprobs[part] = _logprob(logits[row], best)
        return next_ids

    def forget(self) -> None:
        """Drop every sequence's KV cache (after a failed decode its contents are unknown)."""
        self._ll.llama_memory_clear(self._memory, True)
        self._held = [[] for _ in self._held]


def _logprob(logits: np.ndarray, token: int) -> float:
    """log softmax(logits)[token], shifted by the maximum so exp cannot overflow."""
    top = float(logits.max())
    return float(logits[token]) - top - float(np.log(np.exp(logits - top, dtype=np.float64).sum()))
