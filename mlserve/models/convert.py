"""GGUF → safetensors, the slow step the cache exists for.

transformers dequantises a GGUF on every `from_pretrained(..., gguf_file=...)` (20 s for
SmolLM2-135M, longer for Gemma-3-270m). Converting once: load the GGUF, rebuild a plain model from
its config (without the GGUF quantization_config, so the saved folder loads like any other),
copy the weights strictly, save model and tokenizer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mlserve.errors import ModelNotFound

_CHUNK = 8 << 20


def join_parts(parts: Sequence[Path], target: Path, on_progress: Callable[[str], None]) -> Path:
    total = sum(p.stat().st_size for p in parts)
    done = 0
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(_CHUNK):
                    out.write(block)
                    done += len(block)
            on_progress(f"joined {part.name}: {done / 1e6:.0f}/{total / 1e6:.0f} MB")
    return target


def convert_gguf(parts: Sequence[Path], out_dir: Path, on_progress: Callable[[str], None]) -> None:
    """Write a transformers model folder for the GGUF in `parts` (one file, or split parts)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = parts[0] if len(parts) == 1 else join_parts(parts, out_dir / "joined.gguf.tmp", on_progress)
    try:
        started = time.monotonic()
        on_progress(f"dequantising {source.name} ({source.stat().st_size / 1e6:.0f} MB)")
        try:
            quantized = AutoModelForCausalLM.from_pretrained(
                source.parent, gguf_file=source.name, dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelNotFound(f"cannot read GGUF {source}: {exc}",
                                hint="is it a complete GGUF of a causal LM that transformers supports?") from exc
        on_progress(f"dequantised in {time.monotonic() - started:.1f} s; saving safetensors")
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantized.state_dict(), strict=True)
        del quantized
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    finally:
        if source not in parts:
            source.unlink(missing_ok=True)
