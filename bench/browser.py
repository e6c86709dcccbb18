"""Debian's Chromium driven by Playwright, for the compose page's test and browser benchmark.

Playwright's own browser download cannot work here, so it is pointed at the system's Chromium
(`apt-get install chromium`). `missing()` says why a browser run cannot happen, or None.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench.servers import free_port

REPO = Path(__file__).resolve().parents[1]

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


def wait_for_ghost(page, timeout_s: float, whole: bool = False) -> str:
    """The ghost text once there is some, or with `whole` once its stream has ended too
    (playwright raises TimeoutError otherwise)."""
    done = " && !window.compose.busy()" if whole else ""
    page.wait_for_function(f"window.compose.ghost().trim().length > 0{done}", timeout=timeout_s * 1000)
    return ghost(page)


def compose_project(folder: Path) -> Path:
    """A project in `folder` holding only the repo's text-generator entry, its predictor and its
    page; returns its cortex.yaml. The API gets a port of its own: the local backend hands out
    the lowest free port, which parallel deploys on one machine can pick at the same moment."""
    entry = next(api for api in yaml.safe_load((REPO / "cortex.yaml").read_text()) if api["name"] == "text-generator")
    entry["networking"]["local_port"] = free_port()
    static = entry["networking"]["static"]
    (folder / "predictors").mkdir(parents=True)
    shutil.copy(REPO / entry["predictor"]["path"], folder / entry["predictor"]["path"])
    shutil.copytree(REPO / static, folder / static)
    (folder / "cortex.yaml").write_text(yaml.safe_dump([entry], sort_keys=False))
    return folder / "cortex.yaml"
