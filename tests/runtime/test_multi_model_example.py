"""The repository's multi-model example (examples/multi_model) answers in a real runtime."""

import shutil

from runtime_harness import REPO, Runtime


def test_the_example_serves_both_models_and_versions(tmp_path):
    shutil.copytree(REPO / "examples" / "multi_model", tmp_path / "example")
    server = Runtime(tmp_path / "example" / "cortex.yaml", "vocab")
    try:
        server.wait()
        text = {"text": "hello model serving world hallo"}
        answers = {(m, v): server.client.post("/vocab", json=text, params={"model": m, "version": v}).json()
                   for m, v in (("en", "latest"), ("en", "1"), ("de", "latest"))}
        assert answers == {("en", "latest"): {"known": 4, "words": 5}, ("en", "1"): {"known": 2, "words": 5},
                           ("de", "latest"): {"known": 1, "words": 5}}
        listed = server.client.get("/models").json()["models"]
        assert [(m["name"], m["versions"]) for m in listed] == [("de", [1]), ("en", [1, 2])]
    finally:
        server.stop()
