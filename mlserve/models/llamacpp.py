"""The llama.cpp engine: a GGUF run as it is (quantised) or widened to float16/float32 once
(`dtype`, see widen.py), through `llama-cpp-python`.

One llama.cpp context per process decodes up to `batch_rows` rows together, each its own
sequence (llamacpp_batch.py; a lock keeps two threads off the context), or, with `continuous`,
one thread decodes the rows of every caller together, rows joining and leaving between steps
(llamacpp_loop.py). Between calls every
sequence keeps its KV cache and a row only runs the tokens after the start it shares with one of
them: someone typing on, or every sentence after the same few-shot examples (computed once and
shared), pays for its new tokens only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlserve import abandon
from mlserve.errors import ModelNotFound, RequestError
from mlserve.extras import install_hint
from mlserve.models.cache import Progress, _log_progress, cache_dir, prepare_entry
from mlserve.models.chat import render_chat
from mlserve.models.digest import content_sha256
from mlserve.models.next_tokens import NextTokens
from mlserve.models.references import ResolvedModel

INSTALL_HINT = "install the engine: pip install 'mlserve[llamacpp]' (it compiles llama.cpp, about 6 minutes on 2 cores)"
JOINED = "model.gguf"


def gguf_file(resolved: ResolvedModel, cache: str | Path | None = None, on_progress: Progress | None = None,
              dtype: str | None = None, verify: bool | None = None) -> Path:
    """The GGUF file llama.cpp runs for a reference: the file itself; or, prepared once into the
    cache, its split parts joined (`<digest>-gguf`) or its weights widened to `dtype`
    (`<digest>-gguf-f16|f32`, see widen.py). `verify`: see cache.prepare_entry."""
    if len(resolved.parts) == 1 and dtype is None:
        return resolved.parts[0]
    from mlserve.models.convert import join_parts
    from mlserve.models.widen import widen_gguf

    say = on_progress or _log_progress
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{content_sha256(resolved.parts, root, say)[:24]}-gguf" + (f"-f{dtype[-2:]}" if dtype else "")

    def build(work: Path) -> dict:
        joined = resolved.parts[0]
        if len(resolved.parts) > 1:
            say(f"joining the GGUF parts of '{resolved.ref}' once (later loads use the cache)")
            joined = join_parts(resolved.parts, work / (JOINED if dtype is None else "joined.tmp"), say)
        if dtype is not None:
            say(f"writing '{resolved.ref}' with {dtype} weights once (later loads use the cache)")
            widen_gguf(joined, work / JOINED, dtype, say)
            if joined != resolved.parts[0]:
                joined.unlink()
        return {"files": [str(p) for p in resolved.parts], "dtype": dtype or "as stored"}

    return prepare_entry(root, name, resolved.ref, build, say, verify) / JOINED


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelNotFound(f"the llamacpp engine needs the llama-cpp-python package ({exc})",
                            hint=install_hint("llama-cpp-python", INSTALL_HINT) + ", or set engine: torch") from None
    return llama_cpp


class LlamaCppGenerator:
    """Up to `batch_rows` rows decoded together, each its own sequence (llamacpp_batch.py)."""

    engine = "llamacpp"

    def __init__(self, path: Path, *, threads: int = 1, n_ctx: int = 1024, n_batch: int = 512, batch_rows: int = 8,
                 device: str = "auto", continuous: bool = False):
        llama_cpp = _import_llama_cpp()
        from llama_cpp._internals import LlamaContext, LlamaModel
        from llama_cpp._logger import set_verbose

        from mlserve.models.llamacpp_batch import BatchedDecoder
        from mlserve.models.llamacpp_loop import DecodeLoop

        if batch_rows < 1:
            raise ModelNotFound(f"batch_rows must be at least 1, got {batch_rows}", hint="leave it out for 8")
        set_verbose(False)  # llama.cpp logs errors only, as Llama(verbose=False) does
        llama_cpp.llama_backend_init()
        model_params = LlamaModel.default_params()
        # Every layer on the GPU where the build has a GPU backend and the node a GPU (compute.gpu; the
        # image then carries llama.cpp built with GGML_CUDA), unless device: cpu; else on the CPU.
        offload = device != "cpu" and bool(llama_cpp.llama_supports_gpu_offload())
        model_params.n_gpu_layers = -1 if offload else 0
        # Every sequence holds up to n_ctx tokens; one more sequence holds the shared prefix.
        # A unified KV cache lets that prefix be copied into a row by sharing its cells.
        params = LlamaContext.default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = n_ctx * (batch_rows + 1), batch_rows + 1, True
        params.n_batch = params.n_ubatch = n_batch
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as Llama's default: torch's exact text
        try:
            self._model = LlamaModel(path_model=str(path), params=model_params, verbose=False)
            self._ctx = LlamaContext(model=self._model, params=params, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFound(f"llama.cpp cannot load {path}: {exc}",
                                hint="is it a complete GGUF of an architecture llama.cpp supports?") from exc
        self.n_ctx, self.max_rows = n_ctx, batch_rows
        self.stop_ids = {t for t in (self._model.token_eos(), self._model.token_eot()) if t >= 0}
        self.chat_template = self._model.metadata().get("tokenizer.chat_template")
        self._decoder = BatchedDecoder(llama_cpp, self._ctx.ctx, n_vocab=self._model.n_vocab(), rows=batch_rows,
                                       n_batch=n_batch)
        self._lock = threading.Lock()
        # continuous: one thread decodes the rows of every caller together (llamacpp_loop.py)
        self._loop = DecodeLoop(self._decoder, rows=batch_rows, stop_ids=self.stop_ids) if continuous else None

    @property
    def evaluated_tokens(self) -> int:
        """Tokens run through the model so far (prompts and generated ones), the rest came from KV caches."""
        return self._decoder.evaluated

    def forget(self) -> None:
        """Drop what every sequence holds: the next rows run in full (a benchmark's fair start)."""
        with self._lock:
            if self._loop is not None:
                self._loop.forget()
            else:
                self._decoder.forget()

    def encode(self, text: str, special: bool = True) -> list[int]:
        # `special` adds the model's own start token (if its GGUF asks for one), as transformers does;
        # control tokens written in the text (a chat template's "<|im_start|>") are those tokens, as there.
        return self._model.tokenize(text.encode("utf-8"), add_bos=special, special=True)

    def chat_prompt(self, messages: Sequence[dict]) -> str:
        special = [self._model.token_bos(), self._model.token_eos()]
        bos, eos = (self.decode([t], skip_special_tokens=False) if t >= 0 else "" for t in special)
        return render_chat(self.chat_template, messages, bos_token=bos, eos_token=eos)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        # Half a UTF-8 character becomes U+FFFD, as with transformers, so callers can hold it back.
        return self._model.detokenize(list(ids), special=not skip_special_tokens).decode("utf-8", errors="replace")

    def steps(self, rows: Sequence[Sequence[int]], max_steps: int, *, prefix: Sequence[int] = (),
              logprobs: bool = False) -> Iterator[NextTokens]:
        if not 1 <= len(rows) <= self.max_rows:
            raise ValueError(f"the llamacpp engine decodes 1 to {self.max_rows} rows at a time (batch_rows), "
                             f"got {len(rows)}")
        for row in rows:
            tokens = len(prefix) + len(row)
            if tokens == 0:
                raise RequestError("the text has no tokens", hint="send some text")
            if tokens + max_steps > self.n_ctx:
                raise RequestError(f"the text is {tokens} tokens; with {max_steps} new ones it exceeds the "
                                   f"model context of {self.n_ctx}", hint="send less text, or raise n_ctx in the config")
        if self._loop is not None:
            yield from self._loop.steps([[*prefix, *row] for row in rows], max_steps, logprobs, abandon.current())
            return
        with self._lock:
            yield from self._decoder.steps(rows, max_steps, prefix, logprobs=logprobs)
