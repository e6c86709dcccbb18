"""The example's BatchAPI `translate-folder` with the real translator weights, deployed locally: a
folder of 3 text files becomes 3 German files (lines kept; an empty file stays empty), and a second
job over the same folder rewrites the same files, never adds any (results keyed by input, written
atomically: delivery is at least once)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
import yaml

from mlserve.deploy.local.backend import LocalBackend
from mlserve.jobs.store import TERMINAL
from mlserve.spec import load_project
from tests.deploy.local_harness import cleanup

pytestmark = pytest.mark.real_weights
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "seed"
    (root / "predictors").mkdir(parents=True)
    for name in ("translator.py", "translate_folder.py"):  # the example's own files
        shutil.copy(REPO / "predictors" / name, root / "predictors" / name)
    entry = next(e for e in yaml.safe_load((REPO / "cortex.yaml").read_text()) if e["name"] == "translate-folder")
    entry["predictor"]["config"]["threads"] = 1
    (root / "cortex.yaml").write_text(yaml.safe_dump([entry], sort_keys=False))
    docs = root / "docs"
    docs.mkdir()
    (docs / "thanks.txt").write_text("Thank you very much for your help.\n")
    (docs / "two.txt").write_text("Thank you very much for your help.\nThe children are playing in the garden.\n")
    (docs / "empty.txt").write_text("")
    (docs / "notes.md").write_text("not a .txt file\n")
    try:
        yield root
    finally:
        cleanup(root)


def run_job(url: str, out: Path) -> dict:
    answer = httpx.post(url, json={"workers": 1, "config": {"out": str(out)},
                                   "file_path_lister": {"paths": ["docs"], "includes": ["*.txt"], "batch_size": 2}},
                        timeout=60)
    assert answer.status_code == 200, answer.text
    job_id, deadline = answer.json()["job_id"], time.monotonic() + 600
    while (record := httpx.get(url, params={"jobID": job_id}, timeout=30).json())["status"] not in TERMINAL:
        assert time.monotonic() < deadline, record
        time.sleep(0.5)
    return record


def test_a_folder_of_text_files_becomes_one_translation_each_and_a_rerun_rewrites_them(project):
    backend = LocalBackend.for_project(project / "cortex.yaml", grace=5)
    backend.deploy(load_project(project / "cortex.yaml"), lambda _: None)
    url, out = backend.endpoint("translate-folder"), project / "translated"
    record = run_job(url, out)
    assert record["status"] == "succeeded" and record["batches_total"] == 2, record
    assert sorted(p.name for p in out.iterdir()) == ["empty.de.txt", "thanks.de.txt", "two.de.txt"]
    assert (out / "thanks.de.txt").read_text() == "Vielen Dank für Ihre Hilfe.\n"
    lines = (out / "two.de.txt").read_text().splitlines()
    assert lines[0] == "Vielen Dank für Ihre Hilfe." and len(lines) == 2 and lines[1]
    assert (out / "empty.de.txt").read_text() == "\n"
    first = {p.name: p.read_text() for p in out.iterdir()}
    assert run_job(url, out)["status"] == "succeeded"
    assert {p.name: p.read_text() for p in out.iterdir()} == first
