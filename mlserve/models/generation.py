"""Batched greedy decoding with a KV cache, one token per step, for decoder-only LMs.

A plain generator instead of `generate()` so callers can stop each row on their own rule
(sentence end, newline) and stream pieces as they come, with one code path for both.
A prompt prefix shared by every request (few-shot examples) can be computed once with
`prefill` and reused, so each request only pays for its own tokens.
"""

from __future__ import annotations

import copy
import inspect
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
    import torch

    rows = [ids[-max_tokens:] for ids in tokenizer(list(prompts), add_special_tokens=special_tokens)["input_ids"]]
    width = max(len(ids) for ids in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": mask}


def prefill(model: Any, tokenizer: Any, text: str) -> Prefix:
    """Run `text` once; pass the result as `prefix=` and encode the rest without special tokens."""
    import torch

    enc = tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc, use_cache=True, logits_to_keep=1)
    return Prefix(getattr(out, _cache_name(model)), enc["input_ids"].shape[1])


def greedy_steps(
    model: Any, input_ids: Any, attention_mask: Any, max_steps: int, *, prefix: Prefix | None = None
) -> Iterator[Any]:
    """Yield the next token id of every row (a 1-D tensor), at most `max_steps` times.

    The consumer stops early by not asking for more. Each forward pass runs in its own
    `inference_mode` block: a streaming consumer may resume this generator on another thread,
    and torch's grad mode is per thread.
    """
    import torch

    name = _cache_name(model)
    rows = input_ids.shape[0]
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    state = {}
    if prefix is not None:
        cache = copy.deepcopy(prefix.cache)
        cache.batch_repeat_interleave(rows)
        state[name] = cache
        positions = positions + prefix.length
        # Padding now sits between the prefix and each row's text; the mask hides it.
        attention_mask = torch.cat([attention_mask.new_ones((rows, prefix.length)), attention_mask], dim=-1)
    for _ in range(max_steps):
        with torch.inference_mode():
            out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                        use_cache=True, logits_to_keep=1, **state)
        next_ids = out.logits[:, -1, :].argmax(dim=-1)
        yield next_ids
        state[name] = getattr(out, name)
        input_ids = next_ids[:, None]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((rows, 1))], dim=-1)
        positions = positions[:, -1:] + 1
