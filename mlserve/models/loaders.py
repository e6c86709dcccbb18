"""Load a model reference as a ready (model, tokenizer) pair, converting GGUF through the cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlserve.errors import ModelNotFound
from mlserve.models import s3
from mlserve.models.cache import Progress, cache_dir, ensure_converted
from mlserve.models.references import resolve

_DTYPES = ("float32", "bfloat16", "float16")


def materialize(
    ref: str,
    *,
    bases: Sequence[Path] = (),
    cache: str | Path | None = None,
    on_progress: Progress | None = None,
    verify: bool | None = None,
) -> str | Path:
    """What `from_pretrained` should read for `ref`: a local folder, or a hub id when online.
    `verify`: how the cache entries it reads are checked (see cache.prepare_entry)."""
    if s3.is_s3(ref):  # fetched into the cache, then loaded like a local folder or .gguf
        ref = str(s3.fetch(ref, cache_dir(cache), on_progress, verify))
    resolved = resolve(ref, bases=bases)
    if resolved.kind == "gguf":
        return ensure_converted(resolved, cache_dir(cache), on_progress, verify)
    if resolved.kind == "dir":
        return resolved.path
    return resolved.hub_id


def _load(auto_class: str, ref: str, device: str, dtype: str | None, **where: Any) -> tuple[Any, Any]:
    import torch
    import transformers

    if dtype not in (None, *_DTYPES):
        raise ModelNotFound(f"model '{ref}': unknown dtype '{dtype}'", hint=f"use one of {', '.join(_DTYPES)}")
    source = materialize(ref, **where)
    loader = getattr(transformers, auto_class)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        model = loader.from_pretrained(source, dtype=getattr(torch, dtype or "float32"))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelNotFound(
            f"model '{ref}' could not be loaded as {auto_class} from {source}: {exc}",
            hint="check that the reference names a model of the right kind for this predictor",
        ) from exc
    return model.to(resolve_device(device)).eval(), tokenizer


def resolve_device(device: str) -> str:
    """'auto' is CUDA when a GPU is visible (compute.gpu > 0), else the CPU; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(ref: str, *, device: str = "auto", dtype: str | None = None, **where: Any):
    """(model, tokenizer) for a decoder-only LM. `where`: bases=, cache=, on_progress= (see materialize)."""
    return _load("AutoModelForCausalLM", ref, device, dtype, **where)


def load_seq2seq(ref: str, *, device: str = "auto", dtype: str | None = None, **where: Any):
    return _load("AutoModelForSeq2SeqLM", ref, device, dtype, **where)


def load_qa(ref: str, *, device: str = "auto", dtype: str | None = None, **where: Any):
    return _load("AutoModelForQuestionAnswering", ref, device, dtype, **where)


def load_sentence_encoder(ref: str, *, device: str = "auto", dtype: str | None = None, **where: Any):
    """A plain encoder (AutoModel); embed with mean pooling, see `mlserve.models.embed`."""
    return _load("AutoModel", ref, device, dtype, **where)
