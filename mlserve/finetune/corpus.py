"""Training text for `mlserve finetune`: read it, check it, cut it into blocks, hold some out.

The held-out split is the last `eval_fraction` of every file (whole blocks), so evaluation
measures text the training never saw, from every file, and the same files and settings
always give the same split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlserve.errors import TrainingDataError

TEXT_SUFFIXES = {".txt", ".md", ".text", ""}
_SNIFF = 8192


@dataclass(frozen=True)
class Blocks:
    train: list[list[int]]  # token-id blocks of `seq_len`, in file order
    held_out: list[list[int]]
    files: int
    tokens: int


def text_files(inputs: Sequence[Path]) -> list[Path]:
    """The files to train on: named files as given, folders searched for text files (sorted)."""
    if not inputs:
        raise TrainingDataError("no training text given", hint="pass text files or a folder: mlserve finetune DATA...")
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not inside:
                raise TrainingDataError(f"{path}: the folder holds no text files ({', '.join(sorted(TEXT_SUFFIXES - {''}))})",
                                        hint="point at a folder of plain-text files, or name the files")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise TrainingDataError(f"{path}: no such file or folder", hint="check the path")
    return list(dict.fromkeys(p.resolve() for p in found))


def read_text(path: Path) -> str:
    """A file's text; binary or empty files are refused, naming the file."""
    data = path.read_bytes()
    if b"\x00" in data[:_SNIFF]:
        raise TrainingDataError(f"{path}: looks binary (it holds NUL bytes), not text",
                                hint="train on plain UTF-8 text; remove this file or convert it to text first")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"{path}: not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                                hint="convert it to UTF-8 (iconv -t UTF-8) or remove it") from None
    if not text.strip():
        raise TrainingDataError(f"{path}: is empty", hint="add text to it or leave it out")
    return text.lstrip("\ufeff")


def read_texts(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Every file's text, checked before any model is loaded (bad input fails fast)."""
    return [(path, read_text(path)) for path in paths]


def split_blocks(tokenizer: Any, texts: Sequence[tuple[Path, str]], seq_len: int, eval_fraction: float) -> Blocks:
    """Tokenise each text, cut it into `seq_len` blocks and hold out the last blocks of each."""
    if seq_len < 8:
        raise TrainingDataError(f"--seq-len {seq_len} is too short", hint="use 64 or more")
    if not 0 < eval_fraction < 1:
        raise TrainingDataError(f"--eval-fraction {eval_fraction} must be between 0 and 1", hint="e.g. 0.1")
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    train: list[list[int]] = []
    held_out: list[list[int]] = []
    total = 0
    for _, text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + eos
        total += len(ids)
        blocks = [ids[i:i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]
        if len(blocks) < 2:  # too short to split: all of it trains
            train.extend(blocks)
            continue
        cut = len(blocks) - max(1, math.floor(len(blocks) * eval_fraction))
        train.extend(blocks[:cut])
        held_out.extend(blocks[cut:])
    if not train or not held_out:
        raise TrainingDataError(
            f"too little text: {total} tokens in {len(texts)} file(s) make {len(train) + len(held_out)} block(s) "
            f"of {seq_len} tokens; at least one file needs two blocks (one to train on, one held out)",
            hint=f"add text (one file of at least {2 * seq_len} tokens, about {8 * seq_len} characters) "
                 "or lower --seq-len")
    return Blocks(train, held_out, len(texts), total)


def spread(items: list, limit: int) -> list:
    """At most `limit` items, evenly spaced (the held-out set evaluated, kept small on a CPU)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
