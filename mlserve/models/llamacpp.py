"""The llama.cpp engine: a GGUF run as it is (quantised) or widened to float16/float32 once
(`dtype`, see widen.py), through `llama-cpp-python`.

One llama.cpp context per process holds one sequence, so `steps` decodes one row at a time
(a lock keeps two threads off the context). Between calls llama.cpp keeps the KV cache of the
last sequence and `Llama.generate` evaluates only the tokens after the start it shares with it:
someone typing on, or every sentence after the same few-shot examples, pays for its new tokens only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlserve.errors import ModelNotFound, RequestError
from mlserve.models.cache import Progress, _log_progress, cache_dir, prepare_entry
from mlserve.models.digest import content_sha256
from mlserve.models.references import ResolvedModel

INSTALL_HINT = "install the engine: pip install 'mlserve[llamacpp]' (it compiles llama.cpp, about 6 minutes on 2 cores)"
JOINED = "model.gguf"


def gguf_file(resolved: ResolvedModel, cache: str | Path | None = None, on_progress: Progress | None = None,
              dtype: str | None = None) -> Path:
    """The GGUF file llama.cpp runs for a reference: the file itself; or, prepared once into the
    cache, its split parts joined (`<digest>-gguf`) or its weights widened to `dtype`
    (`<digest>-gguf-f16|f32`, see widen.py)."""
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

    return prepare_entry(root, name, resolved.ref, build, say) / JOINED


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelNotFound(f"the llamacpp engine needs the llama-cpp-python package ({exc})",
                            hint=INSTALL_HINT + ", or set engine: torch") from None
    return llama_cpp


class LlamaCppGenerator:
    engine = "llamacpp"
    max_rows = 1

    def __init__(self, path: Path, *, threads: int = 1, n_ctx: int = 1024, n_batch: int = 512):
        llama_cpp = _import_llama_cpp()
        try:
            self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_threads=threads,
                                       n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFound(f"llama.cpp cannot load {path}: {exc}",
                                hint="is it a complete GGUF of an architecture llama.cpp supports?") from exc
        self.n_ctx = n_ctx
        self.stop_ids = {t for t in (self.llm.token_eos(), _eot(llama_cpp, self.llm)) if t is not None and t >= 0}
        self._lock = threading.Lock()

    def encode(self, text: str, special: bool = True) -> list[int]:
        # `special` adds the model's own start token (if its GGUF asks for one), as transformers does.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=special, special=False)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        # Half a UTF-8 character becomes U+FFFD, as with transformers, so callers can hold it back.
        return self.llm.detokenize(list(ids), special=not skip_special_tokens).decode("utf-8", errors="replace")

    def steps(self, rows: Sequence[Sequence[int]], max_steps: int, *, prefix: Sequence[int] = ()) -> Iterator[list[int]]:
        if len(rows) != 1:
            raise ValueError(f"the llamacpp engine decodes one row at a time, got {len(rows)}")
        tokens = [*prefix, *rows[0]]
        if len(tokens) + max_steps > self.n_ctx:
            raise RequestError(f"the text is {len(tokens)} tokens; with {max_steps} new ones it exceeds the "
                               f"model context of {self.n_ctx}", hint="send less text, or raise n_ctx in the config")
        with self._lock:
            # reset=True still reuses the shared start with the last sequence (llama-cpp-python does).
            tokens_out = self.llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                                           reset=True)
            try:
                for _, token in zip(range(max_steps), tokens_out):
                    yield [token]
            finally:
                tokens_out.close()


def _eot(llama_cpp, llm) -> int | None:
    """The end-of-turn token of chat models, which also ends a text (None where unknown)."""
    vocab_eot = getattr(llama_cpp, "llama_vocab_eot", None)
    vocab = getattr(getattr(llm, "_model", None), "vocab", None)
    return vocab_eot(vocab) if vocab_eot and vocab is not None else None
