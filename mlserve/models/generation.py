"""Batched greedy decoding with a KV cache, one token per step, for decoder-only LMs.

A plain generator instead of `generate()` so callers can stop each row on their own rule
(sentence end, newline) and stream pieces as they come, with one code path for both.
A prompt prefix shared by every request (few-shot examples) can be computed once with
`prefill` and reused, so each request only pays for its own tokens; `PromptCache` keeps the
caches of recent prompts, so a prompt that extends one of them (text typed further) only pays
for its new tokens.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prefix:
    """The KV cache of a fixed prompt start, for one row."""

    cache: Any
    length: int


def _cache_name(model: Any) -> str:
    # transformers 5.24 renamed past_key_values to cache (argument and output); accept both.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def encode_left_padded(tokenizer: Any, prompts: Sequence[str], max_tokens: int, *, special_tokens: bool = True):
    """Tokenise with left padding (so every row's next token sits in the last column),
    keeping only the last `max_tokens` tokens of each prompt.

    Padded by hand rather than through the tokenizer's padding_side/truncation_side
    attributes: those are shared by every thread using the tokenizer.
    """
    rows = [ids[-max_tokens:] for ids in tokenizer(list(prompts), add_special_tokens=special_tokens)["input_ids"]]
    return pad_left(rows, pad_id(tokenizer))


def pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pad_left(rows: Sequence[Sequence[int]], pad: int) -> dict:
    """Token id rows as left-padded `input_ids` and `attention_mask` tensors."""
    import torch

    width = max(len(ids) for ids in rows)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + list(ids) for ids in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": mask}


def prefill(model: Any, tokenizer: Any, text: str) -> Prefix:
    """Run `text` once; pass the result as `prefix=` and encode the rest without special tokens."""
    return prefill_ids(model, tokenizer(text)["input_ids"])


def prefill_ids(model: Any, ids: Sequence[int]) -> Prefix:
    import torch

    input_ids = torch.tensor([list(ids)], dtype=torch.long, device=model.device)
    with torch.inference_mode():
        out = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), use_cache=True, logits_to_keep=1)
    return Prefix(getattr(out, _cache_name(model)), len(ids))


def greedy_steps(
    model: Any, input_ids: Any, attention_mask: Any, max_steps: int, *, prefix: Prefix | None = None,
    own_prefix: bool = False, logprobs: bool = False,
) -> Iterator[Any]:
    """Yield the next token id of every row (a 1-D tensor), at most `max_steps` times; with
    `logprobs`, a pair (ids, their log-probabilities) instead.

    `prefix` is copied for each call, unless `own_prefix`: then the caller hands its cache over
    and it is extended in place (afterwards it holds the prompt and what was generated).
    The consumer stops early by not asking for more. Each forward pass runs in its own
    `inference_mode` block: a streaming consumer may resume this generator on another thread,
    and torch's grad mode is per thread.
    """
    import torch

    name = _cache_name(model)
    input_ids, attention_mask = input_ids.to(model.device), attention_mask.to(model.device)
    rows = input_ids.shape[0]
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    state = {}
    if prefix is not None:
        cache = prefix.cache if own_prefix else copy.deepcopy(prefix.cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        state[name] = cache
        positions = positions + prefix.length
        # Padding now sits between the prefix and each row's text; the mask hides it.
        attention_mask = torch.cat([attention_mask.new_ones((rows, prefix.length)), attention_mask], dim=-1)
    for _ in range(max_steps):
        with torch.inference_mode():
            out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                        use_cache=True, logits_to_keep=1, **state)
        logits = out.logits[:, -1, :]
        next_ids = logits.argmax(dim=-1)
        if logprobs:
            yield next_ids, logits.float().log_softmax(dim=-1).gather(-1, next_ids[:, None])[:, 0]
        else:
            yield next_ids
        state[name] = getattr(out, name)
        input_ids = next_ids[:, None]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((rows, 1))], dim=-1)
        positions = positions[:, -1:] + 1


class PromptCache:
    """The KV caches of the last `size` single-row prompts, by token ids.

    `lookup` finds the cached prompt sharing the longest start with the new one and returns a
    private copy cut to that start, so only the rest of the prompt needs a forward pass; token
    ids are compared (not text), so a different tokenisation of the same text just matches less.
    Entries are only read (copied) under the lock, never handed out, so threads never share one.
    """

    def __init__(self, model: Any, size: int):
        self.model, self.size = model, size
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, ids: Sequence[int]) -> Prefix:
        """A cache to pass as `prefix=..., own_prefix=True`, and the model input ids[prefix.length:].
        At least the last token is left to run: its logits give the first new token."""
        from transformers import DynamicCache

        with self._lock:
            best, shared = None, 0
            for key in self._entries:
                n = shared_start(key, ids)
                if n > shared:
                    best, shared = key, n
            shared = min(shared, len(ids) - 1)
            if best is None or shared <= 0:
                return Prefix(DynamicCache(config=self.model.config), 0)
            self._entries.move_to_end(best)
            cache = copy.deepcopy(self._entries[best])
        _cut(cache, shared)
        return Prefix(cache, shared)

    def store(self, ids: Sequence[int], cache: Any) -> None:
        """Keep `cache` (no longer used by its request) as the cache of prompt `ids`."""
        if not getattr(cache, "is_croppable", False) or cache.get_seq_length() < len(ids):
            return  # e.g. sliding-window layers, or a stream closed before the prompt ran
        _cut(cache, len(ids))
        with self._lock:
            self._entries[tuple(ids)] = cache
            self._entries.move_to_end(tuple(ids))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def shared_start(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens `a` and `b` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):  # the shorter one ends the shared start
        if x != y:
            break
        n += 1
    return n


def _cut(cache: Any, length: int) -> None:
    # transformers 5 crops by a negative count of tokens to remove.
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)
