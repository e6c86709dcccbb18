"""Fine-tune a causal LM on your own text: text files or folders in, a transformers model folder out.

    from mlserve.finetune import Settings, finetune
    report = finetune(["plays/"], Path("my-model"), Settings(steps=60))

The output folder loads like any model reference (`model: ./my-model` in cortex.yaml) and holds
`finetune.json`: held-out loss and perplexity before and after, and the settings used.
Importing this package imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mlserve.errors import FinetuneError
from mlserve.finetune.corpus import Blocks, read_texts, split_blocks, text_files
from mlserve.finetune.train import CHECKPOINT, REPORT, Settings, Step, evaluate, run

__all__ = ["CHECKPOINT", "REPORT", "Blocks", "Settings", "Step", "evaluate", "finetune", "read_texts", "split_blocks",
           "text_files"]


def _quiet(_: object) -> None:
    pass


def finetune(inputs: Sequence[str | Path], output: Path, settings: Settings, *, resume: bool = False,
             say: Callable[[str], None] = _quiet, on_step: Callable[[Step], None] = _quiet) -> dict:
    """Run one fine-tuning; returns the report written to `output`/finetune.json."""
    import torch

    from mlserve.models import load_causal_lm

    output = Path(output).expanduser()
    _check_output(output, resume)
    paths = text_files([Path(p) for p in inputs])
    texts = read_texts(paths)
    settings.files = [str(p) for p in paths]
    torch.set_num_threads(settings.threads)
    say(f"loading {settings.base}…")
    model, tokenizer = load_causal_lm(settings.base, device="cpu", on_progress=say)
    blocks = split_blocks(tokenizer, texts, settings.seq_len, settings.eval_fraction)
    say(f"{blocks.tokens} tokens in {blocks.files} file(s): {len(blocks.train)} training blocks, "
        f"{len(blocks.held_out)} held out")
    return run(settings, blocks, model, tokenizer, output, resume=resume, say=say, on_step=on_step)


def _check_output(output: Path, resume: bool) -> None:
    checkpoint = output / CHECKPOINT / "state.pt"
    if resume and not checkpoint.exists():
        raise FinetuneError(f"{output}: nothing to resume (no checkpoint at {checkpoint})",
                            hint="run without --resume to start; checkpoints are written every --save-every steps")
    if not resume and checkpoint.exists():
        raise FinetuneError(f"{output}: holds the checkpoint of an unfinished run",
                            hint="add --resume to continue it, or choose another --output folder")
    if not resume and output.is_dir() and any(output.iterdir()):
        raise FinetuneError(f"{output}: the output folder is not empty",
                            hint="choose a new --output folder, or remove this one")
