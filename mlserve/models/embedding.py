"""Sentence embeddings from a plain encoder: mean pooling over tokens, L2-normalised
(the all-MiniLM-L6-v2 recipe, without needing sentence-transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def embed(model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 32, max_tokens: int = 256):
    """A (len(texts), hidden) float tensor of unit vectors; dot products are cosine similarities."""
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                            max_length=max_tokens, return_tensors="pt").to(model.device)
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled.float(), dim=-1))
    return torch.cat(chunks) if chunks else torch.empty(0)
