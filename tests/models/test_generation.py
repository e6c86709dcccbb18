"""Batched greedy decoding and sentence embeddings, checked against transformers itself."""

import pytest
import torch

from mlserve.models import PromptCache, embed, encode_left_padded, greedy_steps, load_causal_lm, prefill

PROMPTS = ["the", "Hello there, the weather", "a much longer prompt than the others, so the rest get padded"]


@pytest.fixture(scope="module")
def tiny_lm(tiny_gguf, tmp_path_factory):
    return load_causal_lm(str(tiny_gguf), cache=tmp_path_factory.mktemp("cache"))


def _decode_all(model, enc, steps, **kw):
    rows = [[] for _ in range(enc["input_ids"].shape[0])]
    for ids in greedy_steps(model, enc["input_ids"], enc["attention_mask"], steps, **kw):
        for row, token in zip(rows, ids.tolist(), strict=True):
            row.append(token)
    return rows


def test_padded_batch_decodes_like_generate_on_each_prompt(tiny_lm):
    model, tokenizer = tiny_lm
    rows = _decode_all(model, encode_left_padded(tokenizer, PROMPTS, 64), 12)
    for prompt, row in zip(PROMPTS, rows, strict=True):
        single = tokenizer(prompt, return_tensors="pt")
        expected = model.generate(**single, max_new_tokens=12, min_new_tokens=12, do_sample=False,
                                  pad_token_id=tokenizer.eos_token_id)
        assert row == expected[0, single["input_ids"].shape[1]:].tolist(), prompt


def test_shared_prefix_decodes_like_the_full_prompt(tiny_lm):
    model, tokenizer = tiny_lm
    head = "Examples:\nxyz\n"
    full = _decode_all(model, encode_left_padded(tokenizer, [head + p for p in PROMPTS], 128), 8)
    enc = encode_left_padded(tokenizer, PROMPTS, 64, special_tokens=False)
    prefix = prefill(model, tokenizer, head)
    assert _decode_all(model, enc, 8, prefix=prefix) == full
    assert _decode_all(model, enc, 8, prefix=prefix) == full  # the prefix is not used up


def test_left_truncation_keeps_the_end_of_long_prompts(tiny_lm):
    _, tokenizer = tiny_lm
    tokenizer.padding_side = "right"
    enc = encode_left_padded(tokenizer, ["x " * 500 + "the end", "short"], 16)
    assert enc["input_ids"].shape[1] == 16
    assert tokenizer.decode(enc["input_ids"][0]).endswith("the end")
    assert enc["attention_mask"][1].tolist()[-1] == 1 and enc["attention_mask"][1].tolist()[0] == 0  # left padded
    assert tokenizer.padding_side == "right"  # the tokenizer's own setting is left alone


def test_consumer_can_stop_early(tiny_lm):
    model, tokenizer = tiny_lm
    enc = encode_left_padded(tokenizer, PROMPTS, 64)
    steps = greedy_steps(model, enc["input_ids"], enc["attention_mask"], 100)
    assert next(steps).shape == (len(PROMPTS),)
    steps.close()
    assert list(greedy_steps(model, enc["input_ids"], enc["attention_mask"], 0)) == []


def test_embeddings_are_unit_vectors_unaffected_by_padding(tiny_lm, tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog"]
    (tmp_path / "vocab.txt").write_text("\n".join(words))
    tokenizer = BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"))
    assert tokenizer("the cat")["input_ids"] == [2, 5, 6, 3]
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32)).eval()
    texts = ["the cat", "the dog sat on the mat", "the cat"]
    vectors = embed(model, tokenizer, texts)
    assert vectors.shape == (3, 16)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(3))
    assert torch.allclose(vectors[0], embed(model, tokenizer, ["the cat"])[0], atol=1e-5)
    assert torch.allclose(vectors[0] @ vectors[2], torch.tensor(1.0))
    assert embed(model, tokenizer, []).numel() == 0


TYPING = ["Hello", "Hello there", "Hello there, the", "Hello there, the weather", "Hello there, the",
          "Hello there, the weather is", "Something else entirely", "Hello there, the weather is"]


def test_prompt_cache_decodes_like_the_full_prompt(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = PromptCache(model, 3)
    reused = []
    for text in TYPING:
        enc = encode_left_padded(tokenizer, [text], 64)
        expected = _decode_all(model, enc, 8)
        ids = enc["input_ids"][0].tolist()
        prefix = prompts.lookup(ids)
        reused.append(prefix.length)
        rest = {k: v[:, prefix.length:] for k, v in enc.items()}
        assert _decode_all(model, rest, 8, prefix=prefix, own_prefix=True) == expected, text
        assert prefix.cache.get_seq_length() == len(ids) + 7  # extended in place: the caller's to keep
        prompts.store(ids, prefix.cache)
    assert reused[0] == 0 and all(n > 0 for n in reused[1:6]) and reused[6] == 0
    assert reused[7] == len(tokenizer(TYPING[7])["input_ids"]) - 1  # the same prompt again: all but its last token
    assert len(prompts._entries) == 3  # bounded


def test_prompt_cache_entries_are_never_handed_out(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = PromptCache(model, 2)
    ids = tokenizer("Hello there, the weather")["input_ids"]
    first = prompts.lookup(ids)
    list(greedy_steps(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), 3,
                      prefix=first, own_prefix=True))
    prompts.store(ids, first.cache)
    a, b = prompts.lookup(ids), prompts.lookup(ids)
    assert a.cache is not b.cache and a.length == b.length == len(ids) - 1
    [stored] = prompts._entries.values()
    assert stored.get_seq_length() == len(ids)  # cut to the prompt, untouched by the lookups
