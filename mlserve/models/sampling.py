"""Sampled decoding for one prompt, one token per step, with a KV cache and an optional seed.

The sampling knobs are transformers' own logits processors, applied in `generate()`'s order
(repetition penalty, temperature, top-k, top-p); a seeded torch.Generator makes an answer
reproducible (same model, prompt, settings and seed: same tokens). Temperature 0 is greedy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlserve.models.generation import _cache_name


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1


def _processors(s: Sampling) -> Any:
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    chain = LogitsProcessorList()
    if s.repetition_penalty != 1.0:
        chain.append(RepetitionPenaltyLogitsProcessor(s.repetition_penalty))
    if s.temperature > 0:
        chain.append(TemperatureLogitsWarper(s.temperature))
        if s.top_k > 0:
            chain.append(TopKLogitsWarper(s.top_k))
        if s.top_p < 1.0:
            chain.append(TopPLogitsWarper(s.top_p))
    return chain


def sample_steps(model: Any, input_ids: Any, max_steps: int, sampling: Sampling, seed: int) -> Iterator[int]:
    """Yield the next token id of the single-row prompt `input_ids`, at most `max_steps` times.

    Each forward pass runs in its own `inference_mode` block (a streaming consumer may resume
    this generator on another thread; grad mode is per thread).
    """
    import torch

    chain = _processors(sampling)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    name = _cache_name(model)
    ids = input_ids.to(model.device)
    seen = ids
    state: dict = {}
    for _ in range(max_steps):
        with torch.inference_mode():
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1, **state)
            scores = chain(seen, out.logits[:, -1, :].float())
            if sampling.temperature > 0:
                next_ids = torch.multinomial(scores.softmax(dim=-1), 1, generator=generator)[:, 0]
            else:
                next_ids = scores.argmax(dim=-1)
        yield int(next_ids[0])
        state[name] = getattr(out, name)
        ids = next_ids[:, None]
        seen = torch.cat([seen, ids], dim=-1)
