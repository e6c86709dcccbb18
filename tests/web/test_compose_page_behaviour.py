"""The compose page's behaviour in a real browser against the real runtime, with a predictor that
suggests a fixed email (fast, no weights): loading (503), superseded requests (409), agreeing
keys, Tab, a contradicting key, Esc, and an API that went away."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from local_harness import wait_for
from runtime_harness import serve_fixture

from bench.browser import browser_page, ghost, wait_for_ghost

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path, browser_ready):
    shutil.copytree(REPO / "web" / "compose", tmp_path / "web")
    # Loading lasts until the test creates `loaded`; streams wait while `hold` exists (word_suggester.py).
    config = {"until": str(tmp_path / "loaded"), "hold": str(tmp_path / "hold"), "delay": 0.3}
    server = serve_fixture(tmp_path, "word_suggester.py", {"config": config},
                           {"networking": {"endpoint": "/compose", "static": "web"}})
    server.wait("/healthz")
    yield server
    server.stop()


def status(page) -> str:
    return page.inner_text("#status")


def test_the_page_through_loading_typing_and_the_api_going_away(served, tmp_path):
    hold, held = tmp_path / "hold", tmp_path / "hold.held"
    with browser_page() as page:
        page.goto(served.url + "/compose")  # redirected to /compose/
        assert page.url.endswith("/compose/")
        page.click("#text")
        page.keyboard.type("Hi", delay=30)
        page.wait_for_function("document.getElementById('status').textContent.includes('still loading')",
                               timeout=10_000)
        assert ghost(page) == ""
        (tmp_path / "loaded").touch()

        # Once loaded, the page asks again by itself (Retry-After) and the message goes.
        assert wait_for_ghost(page, timeout_s=60, whole=True) == " John, I hope"
        assert status(page) == ""
        assert "suggestion in" in page.inner_text("#latency")

        page.keyboard.type(" Jo")  # agrees with the suggestion: the rest stays
        assert ghost(page) == "hn, I hope"
        page.keyboard.press("Tab")
        assert page.input_value("#text") == "Hi John, I hope"
        assert wait_for_ghost(page, timeout_s=30, whole=True) == " you are doing"

        page.keyboard.type("x")  # contradicts it: gone at once
        assert ghost(page) == ""
        page.keyboard.press("Backspace")
        assert wait_for_ghost(page, timeout_s=30).startswith(" you")

        # A key that contradicts a suggestion still streaming: the words still coming for it are
        # not wanted and are no error (they once threw, and the page said the API was unreachable).
        page.evaluate("""window.statuses = [];
            new MutationObserver(() => statuses.push(document.getElementById('status').textContent))
                .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true})""")
        hold.touch()  # the page's next stream waits before its first word
        page.keyboard.press("Escape")
        page.keyboard.press("Backspace")
        wait_for(lambda: held.exists() and "Hi John, I hop" in held.read_text().splitlines(),
                 what="the page's stream for 'Hi John, I hop' to reach the API")
        page.keyboard.type("x")  # the page asks for the new text only after a pause
        hold.unlink()  # meanwhile the stream of 'Hi John, I hop' sends its words
        page.wait_for_function("!window.compose.busy()", timeout=30_000)
        assert page.input_value("#text") == "Hi John, I hopx" and ghost(page) == ""
        assert [s for s in page.evaluate("window.statuses") if s] == [] and status(page) == ""
        page.keyboard.press("Backspace")
        page.keyboard.type("e")
        assert wait_for_ghost(page, timeout_s=30).startswith(" you")
        page.keyboard.press("Escape")
        assert ghost(page) == "" and page.input_value("#text") == "Hi John, I hope"

        # A newer request of the page's session (as from a stale tab, or an abort that came
        # late) supersedes the page's stream; the page shows no error for it and carries on.
        hold.touch()  # streams send nothing meanwhile, so the page's last ask is for the whole sentence
        page.keyboard.type(" you are doing well.", delay=40)
        wait_for(lambda: held.exists() and "Hi John, I hope you are doing well." in held.read_text().splitlines(),
                 what="the page's stream of the sentence to reach the API")
        newer = served.client.post("/compose", json={"text": "Hi John"},
                                   headers={"X-Session-ID": page.evaluate("window.compose.sessionId")})
        assert newer.status_code == 200
        page.wait_for_function("!window.compose.busy()", timeout=30_000)
        assert page.evaluate("window.compose.ignored()") == 1 and status(page) == ""
        hold.unlink()
        page.keyboard.type(" Thanks")
        assert wait_for_ghost(page, timeout_s=30, whole=True) == " for the notes"
        assert status(page) == ""

        served.stop()
        page.keyboard.type(" Thanks")
        page.wait_for_function("document.getElementById('status').textContent.includes('Cannot reach')",
                               timeout=15_000)
        assert ghost(page) == ""
