"""`mlserve finetune` on a tiny llama: input errors, the held-out split, determinism, resume."""

import json

import pytest
from cli_harness import invoke

from mlserve.errors import FinetuneError, TrainingDataError
from mlserve.finetune import Settings, finetune, read_texts, split_blocks, text_files
from mlserve.models import load_causal_lm

pytestmark = pytest.mark.timeout(300)


def tiny(model, **kw):
    return Settings(base=model, seq_len=32, batch_size=2, grad_accum=1, steps=6, lr=1e-2, eval_blocks=8,
                    threads=1, save_every=3, **kw)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_bad_input_is_named_with_what_to_do(tmp_path):
    empty, binary, latin = tmp_path / "empty.txt", tmp_path / "model.txt", tmp_path / "latin.txt"
    empty.write_text("  \n")
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    latin.write_bytes("caf\xe9".encode("latin-1"))
    for path, words in ((empty, "is empty"), (binary, "looks binary"), (latin, "not UTF-8")):
        with pytest.raises(TrainingDataError) as err:
            read_texts([path])
        assert str(path) in err.value.message and words in err.value.message and err.value.hint
    with pytest.raises(TrainingDataError, match="no such file"):
        text_files([tmp_path / "missing"])
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(TrainingDataError, match="holds no text files"):
        text_files([tmp_path / "pics"])


def test_cli_reports_bad_input_before_loading_a_model(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = invoke("finetune", str(tmp_path / "empty.txt"), "-o", str(tmp_path / "out"), "--base", "/nonexistent")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'empty.txt'}: is empty" in result.stderr and "hint:" in result.stderr


def test_too_little_text_says_how_much_is_needed(tiny_model, tmp_path):
    (tmp_path / "short.txt").write_text("Once upon a time.")
    _, tokenizer = load_causal_lm(tiny_model, device="cpu", cache=tmp_path / "cache")
    with pytest.raises(TrainingDataError, match=r"too little text: 1\d tokens in 1 file\(s\)") as err:
        split_blocks(tokenizer, read_texts([tmp_path / "short.txt"]), 32, 0.1)
    assert "lower --seq-len" in err.value.hint


def test_held_out_blocks_are_the_end_of_each_file(tiny_model, corpus, tmp_path):
    _, tokenizer = load_causal_lm(tiny_model, device="cpu", cache=tmp_path / "cache")
    texts = read_texts(text_files([corpus]))
    blocks = split_blocks(tokenizer, texts, 32, 0.25)
    per_file = []
    for _, text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        per_file.append([ids[i:i + 32] for i in range(0, len(ids) - 31, 32)])
    expected_held = [b for fb in per_file for b in fb[len(fb) - len(fb) // 4:]]
    assert blocks.held_out == expected_held
    assert len(blocks.train) + len(blocks.held_out) == sum(len(fb) for fb in per_file)


def test_training_lowers_held_out_loss_and_is_deterministic(tiny_model, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
    first = finetune([corpus], tmp_path / "one", tiny(tiny_model))
    second = finetune([corpus], tmp_path / "two", tiny(tiny_model))
    held = first["held_out"]
    assert held["loss_after"] < held["loss_before"]
    assert first["held_out"] == second["held_out"]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert all((one[k] == two[k]).all() for k in one)
    assert json.loads((tmp_path / "one" / "finetune.json").read_text())["held_out"] == held
    model, _ = load_causal_lm(str(tmp_path / "one"), device="cpu")  # a plain model folder
    assert model.config.model_type == "llama"


def test_resume_continues_to_the_same_model(tiny_model, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
    straight = finetune([corpus], tmp_path / "straight", tiny(tiny_model))

    class Crash(Exception):
        pass

    def crash_at_5(step):
        if step.step == 5:
            raise Crash  # after the checkpoint at step 3
    with pytest.raises(Crash):
        finetune([corpus], tmp_path / "resumed", tiny(tiny_model), on_step=crash_at_5)
    with pytest.raises(FinetuneError, match="unfinished run"):
        finetune([corpus], tmp_path / "resumed", tiny(tiny_model))
    seen = []
    resumed = finetune([corpus], tmp_path / "resumed", tiny(tiny_model), resume=True, on_step=seen.append)
    assert [s.step for s in seen] == [4, 5, 6]
    assert resumed["held_out"] == straight["held_out"]
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(((a[k] - b[k]).abs().max() < 1e-6) for k in a)
    assert not (tmp_path / "resumed" / ".checkpoint").exists()
    with pytest.raises(FinetuneError, match="nothing to resume"):
        finetune([corpus], tmp_path / "resumed2", tiny(tiny_model), resume=True)
    with pytest.raises(FinetuneError, match="not empty"):
        finetune([corpus], tmp_path / "straight", tiny(tiny_model))


def test_resume_refuses_other_settings(tiny_model, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))

    def stop(step):
        if step.step == 4:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        finetune([corpus], tmp_path / "run", tiny(tiny_model), on_step=stop)
    with pytest.raises(FinetuneError, match=r"different settings \(lr\)"):
        changed = tiny(tiny_model)
        changed.lr = 1e-3
        finetune([corpus], tmp_path / "run", changed, resume=True)


def test_lora_trains_adapters_and_saves_a_plain_model(tiny_model, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLSERVE_MODEL_CACHE", str(tmp_path / "cache"))
    report = finetune([corpus], tmp_path / "lora", tiny(tiny_model, lora=True, lora_rank=4))
    assert report["mode"] == "lora"
    assert report["held_out"]["loss_after"] < report["held_out"]["loss_before"]
    assert not any("lora" in k for k in weights(tmp_path / "lora"))  # merged into the base weights
