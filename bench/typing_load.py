"""The typing workload: one simulated person types emails character by character.

Keystrokes come at 5-8 characters per second (a fixed random schedule, the same for every
variant). Once the first word is typed, every keystroke asks for a suggestion for the text so
far, with the person's session id (X-Session-ID), without waiting for the previous answer: a
request still running when the next keystroke comes is superseded by the runtime (409).
Reported per variant: "keystroke -> suggestion" latency p50/p90 of the answered requests, and how
many were superseded. Run by bench/run.py for the Smart Compose group, or alone:

    python bench/typing_load.py --url http://127.0.0.1:8080/text-generator
    python bench/typing_load.py --as-page --typists 1 4 8 --url window=http://127.0.0.1:8080/text-generator \
        continuous=http://127.0.0.1:8081/text-generator-cb   # two deployments, compared in one run
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import plan  # noqa: E402

CHARS_PER_S = (5.0, 8.0)


def schedule(texts: list[str], seed: int = 7) -> list[tuple[float, str]]:
    """(seconds from the start, text typed so far) for every keystroke that asks for a suggestion."""
    rng, at, out = random.Random(seed), 0.0, []
    for text in texts:
        for i in range(1, len(text) + 1):
            at += 1.0 / rng.uniform(*CHARS_PER_S)
            if " " in text[:i].strip():  # the first word boundary has been typed
                out.append((at, text[:i]))
        at += 1.0  # a pause between emails
    return out


async def _typed(url: str, keystrokes: list[tuple[float, str]], new_tokens: int | None) -> tuple[list[float], dict]:
    """(latencies of the answered keystrokes in ms, count per status) of one person typing; with
    `new_tokens` None each request holds only the text, as the compose page sends it."""
    extra = {} if new_tokens is None else {"max_new_tokens": new_tokens}
    session = f"typist-{uuid.uuid4().hex[:8]}"
    latencies, statuses = [], {}

    async def ask(client, at, text):
        started = time.perf_counter()
        try:
            r = await client.post(url, json={"text": text} | extra,
                                  headers={"X-Session-ID": session})
            status = r.status_code
        except httpx.HTTPError:
            status = "error"
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(timeout=30.0) as client:
        start, tasks = time.perf_counter(), []
        for at, text in keystrokes:
            await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
            tasks.append(asyncio.create_task(ask(client, at, text)))
        await asyncio.gather(*tasks)
    return latencies, statuses


def _summary(requests: int, latencies: list[float], statuses: dict) -> dict:
    latencies = sorted(latencies)
    pick = (lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)) if latencies else (lambda q: None)
    return {"requests": requests, "answered": statuses.get(200, 0), "superseded": statuses.get(409, 0),
            "other": {str(k): v for k, v in statuses.items() if k not in (200, 409)},
            "keystroke_to_suggestion_ms": {"p50": pick(0.5), "p90": pick(0.9), "max": pick(1.0)}}


async def type_along(url: str, keystrokes: list[tuple[float, str]], new_tokens: int | None = plan.NEW_TOKENS) -> dict:
    return _summary(len(keystrokes), *await _typed(url, keystrokes, new_tokens))


async def typists(url: str, n: int, emails: int, new_tokens: int | None = plan.NEW_TOKENS) -> dict:
    """`n` people typing at once, each with a session, their own `emails` texts (person i starts at
    the bench's email i) and their own keystroke times; the summary over all of them."""
    texts = plan.EMAIL_TEXTS
    plans = [schedule([texts[(i + k) % len(texts)] for k in range(emails)], seed=7 + i) for i in range(n)]
    runs = await asyncio.gather(*(_typed(url, keys, new_tokens) for keys in plans))
    statuses: dict = {}
    for _, counts in runs:
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    return _summary(sum(len(k) for k in plans), [ms for lat, _ in runs for ms in lat], statuses)


def run(urls: dict[str, str], texts: list[str], crowds: tuple[int, ...] = (1,),
        new_tokens: int | None = plan.NEW_TOKENS) -> dict:
    """The same typing schedule against each variant in turn; with `crowds`, for each number of
    people typing at once (the variants alternating per crowd size)."""
    if crowds == (1,):
        keystrokes = schedule(texts)
        return {name: asyncio.run(type_along(url, keystrokes, new_tokens)) for name, url in urls.items()}
    return {f"{name} x{n}": asyncio.run(typists(url, n, len(texts), new_tokens))
            for n in crowds for name, url in urls.items()}


def serve_and_type(names: list[str], texts: list[str], crowds: tuple[int, ...] = (1,)) -> dict:
    """Start the named Smart Compose variants of bench/plan.py, type along on each, stop them."""
    import tempfile

    from bench.servers import Server

    variants = {v.name: v for v in plan.compose(quick=True).variants}
    servers = [Server(variants[n], Path(tempfile.mkdtemp(prefix="typing-logs-"))) for n in names]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready({"text": texts[0][:40], "max_new_tokens": plan.NEW_TOKENS}, warmup=3)
        return run({s.variant.name: s.url for s in servers}, texts, crowds)
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", nargs="+", help="running text-generator endpoints, each URL or NAME=URL "
                       "(several are typed on in turn, alternating per number of typists)")
    where.add_argument("--serve", nargs="+", help="Smart Compose variants of bench/plan.py to start, e.g. B2 B2-llama")
    parser.add_argument("--emails", type=int, default=3, help="how many of the bench's email texts to type")
    parser.add_argument("--typists", type=int, nargs="+", default=[1],
                        help="people typing at once, e.g. 1 4 8 (each with a session and their own texts)")
    parser.add_argument("--as-page", action="store_true",
                        help="send only the text, as the compose page does (the API's max_new_tokens and "
                             f"gate), instead of max_new_tokens {plan.NEW_TOKENS}")
    args = parser.parse_args(argv)
    texts = plan.EMAIL_TEXTS[:args.emails]
    crowds = tuple(args.typists)
    if args.url:
        urls = dict(u.split("=", 1) if "=" in u.split("://")[0] else (f"api{i + 1}", u) for i, u in enumerate(args.url))
        results = run(urls, texts, crowds, None if args.as_page else plan.NEW_TOKENS)
    else:
        results = serve_and_type(args.serve, texts, crowds)
    for name, r in results.items():
        share = 100 * r["superseded"] / r["requests"] if r["requests"] else 0
        ms = r["keystroke_to_suggestion_ms"]
        print(f"{name:18} keystrokes {r['requests']:5}  answered {r['answered']:5}  superseded {r['superseded']:5} "
              f"({share:4.1f} %)  p50 {ms['p50']} / p90 {ms['p90']} ms  other {r['other']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
