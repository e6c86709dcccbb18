"""Write a tiny llama-architecture GGUF (random float32 weights, byte-level BPE tokenizer)
with the `gguf` package's writer: a real GGUF that transformers converts in a second."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table: the 256 base symbols of a byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def write_tiny_llama_gguf(path: Path, *, seed: int = 0, hidden: int = 16, layers: int = 2,
                          quant: str | None = None, silent: bool = False) -> Path:
    """`quant` (e.g. "Q8_0", rows of 32 values: hidden=32) stores the matrices quantised.
    `silent`: a model that only ever writes its end-of-text token, as damaged weights do (every
    block zero, so the last hidden state is the all-ones embedding, which only that output row sees)."""
    rng = np.random.default_rng(seed)
    tokens = [*_byte_symbols(), "Ġt", "he", "Ġthe", "<|endoftext|>"]
    vocab, heads, kv_heads, ffn = len(tokens), 2, 1, 32
    head_dim = hidden // heads
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (vocab - 1) + [3])  # the last one is a control token
    w.add_token_merges(["Ġ t", "h e", "Ġt he"])
    w.add_bos_token_id(vocab - 1)
    w.add_eos_token_id(vocab - 1)

    def matrix(name: str, *shape: int) -> None:
        values = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        if silent:
            values = np.ones(shape, np.float32) if name == "token_embd.weight" else np.zeros(shape, np.float32)
            if name == "output.weight":
                values[vocab - 1] = 1.0
        if quant is None:
            w.add_tensor(name, values)
        else:
            kind = gguf.GGMLQuantizationType[quant]
            w.add_tensor(name, gguf.quants.quantize(values, kind), raw_dtype=kind)

    matrix("token_embd.weight", vocab, hidden)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    matrix("output.weight", vocab, hidden)
    for i in range(layers):
        block = f"blk.{i}."
        w.add_tensor(block + "attn_norm.weight", np.ones(hidden, np.float32))
        matrix(block + "attn_q.weight", hidden, hidden)
        matrix(block + "attn_k.weight", kv_heads * head_dim, hidden)
        matrix(block + "attn_v.weight", kv_heads * head_dim, hidden)
        matrix(block + "attn_output.weight", hidden, hidden)
        w.add_tensor(block + "ffn_norm.weight", np.ones(hidden, np.float32))
        matrix(block + "ffn_gate.weight", ffn, hidden)
        matrix(block + "ffn_up.weight", ffn, hidden)
        matrix(block + "ffn_down.weight", hidden, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
