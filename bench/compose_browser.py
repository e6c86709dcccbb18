"""Keystroke -> ghost text as a person sees it: the compose page in Chromium, typing email openings.

    .venv/bin/python bench/compose_browser.py                  # 6 openings, about 2 minutes
    .venv/bin/python bench/compose_browser.py --texts 12 --screenshot docs/compose.png

Deploys the repo's text-generator alone (a temporary project, `mlserve deploy`), opens its page
in headless Chromium (Playwright, system Chromium) and types the first words of each email
opening key by key at a human pace. The page measures, with performance.now(), the time from the
keystroke that produced the text it asked about to the frame that paints the first ghost word;
those are the "page" figures. Next to them, for the same final texts with the machine otherwise
quiet: the time to the first SSE word from a Python client over HTTP ("http ttft"), and the API's
own request histogram from /metrics ("server": every request the page sent, superseded ones too).
Writes bench/results/compose-browser-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

import httpx  # noqa: E402

from bench.browser import REPO, browser_page, compose_project, missing, wait_for_ghost  # noqa: E402
from bench.plan import EMAIL_TEXTS  # noqa: E402
from bench.stats import percentile  # noqa: E402
from mlserve.deploy.metrics import scrape  # noqa: E402

WORDS = 9  # the first words of each opening are typed


def mlserve(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "mlserve.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"mlserve {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def type_openings(page, texts: list[str], delay_ms: int) -> list[dict]:
    rows = []
    for text in texts:
        page.fill("#text", "")
        page.evaluate("window.compose.latencies.length = 0; window.compose.waits.length = 0")
        page.keyboard.type(text, delay=delay_ms)
        try:
            final = wait_for_ghost(page, timeout_s=30, whole=True)
        except Exception:  # no suggestion for the whole text: recorded as such
            final = ""
        rows.append({"text": text, "suggestion": final,
                     "latencies_ms": page.evaluate("window.compose.latencies.slice()"),
                     "waits_ms": page.evaluate("window.compose.waits.slice()")})
    return rows


def http_ttft(endpoint: str, texts: list[str]) -> list[float]:
    """ms to the first `data:` event of a streamed suggestion, one request at a time."""
    out = []
    with httpx.Client(timeout=60) as client:
        for text in texts:
            start = time.perf_counter()
            with client.stream("POST", endpoint, json={"text": text},
                               headers={"accept": "text/event-stream"}) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        out.append((time.perf_counter() - start) * 1000)
                        break
    return out


def figures(values: list[float]) -> dict:
    return {"n": len(values), "p50": _r(percentile(values, 50)), "p90": _r(percentile(values, 90))}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=6, help="how many email openings to type")
    parser.add_argument("--delay-ms", type=int, default=110, help="pause between keystrokes")
    parser.add_argument("--screenshot", type=Path, help="save the page with a suggestion here (PNG)")
    args = parser.parse_args()
    if why := missing():
        raise SystemExit(f"cannot run the browser benchmark: {why}")

    load_before = [round(x, 1) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="compose-bench-") as tmp:
        folder = Path(tmp)
        spec = compose_project(folder)
        try:
            out = mlserve("deploy", str(spec), cwd=folder)
            page_url = re.search(r"^page of text-generator: (http://\S+/)$", out, re.M).group(1)
            endpoint = page_url.rstrip("/")
            port = int(re.search(r":(\d+)/", page_url).group(1))
            texts = [" ".join(t.split()[:WORDS]) for t in EMAIL_TEXTS[:args.texts]]
            with browser_page() as page:
                page.goto(page_url)
                page.click("#text")
                page.keyboard.type("Hi John, I hope you are", delay=args.delay_ms)  # warms the model up
                wait_for_ghost(page, timeout_s=120, whole=True)
                rows = type_openings(page, texts, args.delay_ms)
                if args.screenshot:  # warm, as a person would see it after a few words
                    type_openings(page, ["Hi John, I hope you are"], args.delay_ms)
                    page.locator("main").screenshot(path=str(args.screenshot))
            server = scrape(port)
            ttft = http_ttft(endpoint, texts)
        finally:
            mlserve("delete", "--all", "--spec", str(spec), cwd=folder)

    page_ms = [ms for row in rows for ms in row["latencies_ms"]]
    wait_ms = [ms for row in rows for ms in row["waits_ms"]]
    keystrokes = sum(len(t) for t in texts)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "delay_ms": args.delay_ms,
        "loadavg_before": load_before, "cpus": os.cpu_count(),
        "keystrokes": keystrokes, "suggestions_shown": len(page_ms),
        "page_keystroke_to_ghost_ms": figures(page_ms),
        "page_keystroke_to_request_ms": figures(wait_ms), "http_ttft_ms": figures(ttft),
        "server_request_ms": {"requests": server.requests if server else None,
                              "p50": _r(server.p50_ms) if server else None,
                              "p99": _r(server.p99_ms) if server else None},
        "rows": rows,
    }
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"compose-browser-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))

    p, h, s = result["page_keystroke_to_ghost_ms"], result["http_ttft_ms"], result["server_request_ms"]
    w = result["page_keystroke_to_request_ms"]
    print(f"load average before: {load_before} on {os.cpu_count()} CPUs (a busy machine slows every figure)")
    print(f"typed {keystrokes} keys in {len(texts)} openings at {args.delay_ms} ms/key; "
          f"{len(page_ms)} suggestions shown")
    print(f"page  keystroke -> ghost text   p50 {p['p50']} ms  p90 {p['p90']} ms  (n={p['n']}, in Chromium)")
    print(f"  of which keystroke -> request sent   p50 {w['p50']} ms  p90 {w['p90']} ms  (the pause before asking)")
    print(f"http  time to first word       p50 {h['p50']} ms  p90 {h['p90']} ms  (n={h['n']}, one at a time)")
    print(f"server request duration        p50 {s['p50']} ms  p99 {s['p99']} ms  ({s['requests']} requests, /metrics)")
    if p["p50"] and h["p50"]:
        print(f"page p50 / http p50 = {p['p50'] / h['p50']:.2f}x")
    for row in rows:
        print(f"  {row['text']!r} -> {row['suggestion']!r}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
