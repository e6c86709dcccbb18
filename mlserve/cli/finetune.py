"""`mlserve finetune DATA... --output DIR`: fine-tune a causal LM on text files, write a model folder.

The folder it writes is a plain transformers model: name it as `model:` in cortex.yaml, or push
it to S3 with `mlserve models push` and name the s3:// URL.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from mlserve.cli.common import stderr, stdout
from mlserve.finetune.train import Settings

NAME = "finetune"
# The defaults live in Settings; importing it imports no torch (train.py imports torch lazily).
_S = Settings()


def command(
    data: Annotated[list[Path], typer.Argument(metavar="DATA...", show_default=False,
                                               help="Text files, or folders of .txt/.md files, to train on.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="DIR", show_default=False,
                                         help="Where to write the fine-tuned model folder (must be new or empty).")],
    base: Annotated[str, typer.Option(help="The model to start from: a folder, .gguf, pkg://, s3:// or hub id.")] = _S.base,
    steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = _S.steps,
    seq_len: Annotated[int, typer.Option(min=8, help="Tokens per training block.")] = _S.seq_len,
    batch_size: Annotated[int, typer.Option(min=1, help="Blocks per forward pass.")] = _S.batch_size,
    grad_accum: Annotated[int, typer.Option(min=1, help="Forward passes per step.")] = _S.grad_accum,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine decay after warmup).")] = _S.lr,
    lora: Annotated[bool, typer.Option("--lora/--full", help="Train LoRA adapters (merged on save) or every weight.")] = _S.lora,
    eval_fraction: Annotated[float, typer.Option(help="Fraction of each file held out for evaluation.")] = _S.eval_fraction,
    eval_blocks: Annotated[int, typer.Option(min=1, help="Held-out blocks evaluated before and after.")] = _S.eval_blocks,
    seed: Annotated[int, typer.Option(help="Same seed, data and options: the same model.")] = _S.seed,
    threads: Annotated[int, typer.Option(min=1, help="torch threads.")] = _S.threads,
    save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps (for --resume).")] = _S.save_every,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --output.")] = False,
) -> None:
    """Fine-tune a causal LM on your text; prints held-out loss and perplexity before and after."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mlserve.finetune import finetune

    settings = Settings(base=base, seq_len=seq_len, batch_size=batch_size, grad_accum=grad_accum, steps=steps,
                        lr=lr, lora=lora, eval_fraction=eval_fraction, eval_blocks=eval_blocks, seed=seed,
                        threads=threads, save_every=save_every)
    console = stderr()
    bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeRemainingColumn(), console=console, transient=False)
    task = bar.add_task("train", total=steps, info="")

    def on_step(s) -> None:
        bar.update(task, completed=s.step, info=f"loss {s.loss:.3f}  {s.tokens_per_s:.0f} tok/s  lr {s.lr:.1e}")
        if not console.is_terminal and (s.step % 10 == 0 or s.step == s.steps):
            console.print(f"  step {s.step}/{s.steps}  loss {s.loss:.3f}  {s.tokens_per_s:.0f} tok/s", highlight=False)

    def say(message: str) -> None:
        console.print(f"  {message}", markup=False, highlight=False)

    with bar:
        report = finetune(data, output, settings, resume=resume, say=say, on_step=on_step)
    held = report["held_out"]
    out = stdout()
    out.print(f"held-out loss {held['loss_before']:.3f} → {held['loss_after']:.3f}  "
              f"perplexity {held['perplexity_before']:.1f} → {held['perplexity_after']:.1f}  "
              f"({held['blocks']} blocks, {report['train']['s_per_step']} s/step)", highlight=False)
    out.print(f"model: {output}  (cortex.yaml: model: {output})", highlight=False)
    if not math.isfinite(held["loss_after"]):
        raise typer.Exit(1)
