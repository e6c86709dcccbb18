"""Debian's Chromium driven by Playwright, for the compose page's test and browser benchmark.

Playwright's own browser download cannot work here, so it is pointed at the system's Chromium
(`apt-get install chromium`). `missing()` says why a browser run cannot happen, or None.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from contextlib import contextmanager
from typing import Iterator

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("MLSERVE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no chromium executable (apt-get install chromium, or set MLSERVE_CHROMIUM)"
    return None


@contextmanager
def browser_page(width: int = 820, height: int = 560) -> Iterator:
    """A fresh page in a headless Chromium; closed (browser and driver) on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def ghost(page) -> str:
    return page.evaluate("window.compose.ghost()")


def wait_for_ghost(page, timeout_s: float) -> str:
    """The ghost text once there is some (playwright raises TimeoutError otherwise)."""
    page.wait_for_function("window.compose.ghost().trim().length > 0", timeout=timeout_s * 1000)
    return ghost(page)
