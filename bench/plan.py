"""What the benchmark measures: the two predictor groups, their variants and load ladders."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import servers
from bench.servers import REPO, Variant

BENCH = REPO / "bench"
SPEC = BENCH / "cortex.yaml"
GENERATOR = REPO / "predictors" / "text_generator.py"
PREFIX_TOKENS = 16
TYPING_VARIANTS = ("B2", "B2-llama", "B2-llama-t2")  # served variants the typing workload runs on
NEW_TOKENS = 3

# Email openings someone might be typing; each is cut to exactly PREFIX_TOKENS tokens.
EMAIL_TEXTS = [
    "Hi John, I hope you are doing well and that the move to the new office went smoothly last week",
    "Thank you for your email about the quarterly report. I will read it carefully and get back to you",
    "Dear Ms. Smith, I am writing to follow up on our conversation at the conference in Berlin last month",
    "Please find attached the slides from this morning's meeting together with the notes that Anna took during it",
    "Let me know if you have any questions about the contract before we sign it at the end of the week",
    "Sorry for the late reply, I was travelling all week and only now had time to go through my inbox",
    "We are happy to inform you that your application for the summer internship programme has been accepted",
    "Could you please send me the latest version of the budget spreadsheet so that I can check the numbers",
    "I wanted to thank you again for taking the time to meet with me yesterday and for the useful advice",
    "As discussed on the phone, I am sending you the details of the delivery schedule for the next three months",
    "Good morning team, a quick reminder that the deadline for submitting your expense reports is this Friday",
    "Hello Maria, it was great to see you at the workshop and I really enjoyed our discussion about the project",
]


@dataclass
class Group:
    """One predictor under every way of serving it."""

    name: str
    title: str
    predictor: Path
    class_name: str
    config: dict
    variants: list[Variant]
    c1_count: int  # sequential requests per variant per round
    per_point: int  # requests per load point per round (at least min_duration seconds)
    min_duration: float
    timeout: float  # per request
    slo_floor_ms: float = 0.0  # below this an SLO is client-timer noise, not serving
    ladder: list[float] = field(default_factory=list)  # offered rates, set by calibration
    payloads: list[dict] = field(default_factory=list)
    stream_on: tuple[str, ...] = ()  # variants also measured with Accept: text/event-stream


def _mlserve(name: str, api: str, env: dict, note: str, **kw) -> Variant:
    return servers.mlserve(name, SPEC, api, f"/{api}", env, note=note, **kw)


def trivial(quick: bool) -> Group:
    env = servers.server_env(1)
    h11 = Variant("B2-h11", [sys.executable, str(BENCH / "runtime_launcher.py"), "--spec", str(SPEC),
                             "--api", "noop", "--port", "{port}", "--loop", "asyncio", "--http", "h11"],
                  "/noop", env, note="mlserve, asyncio loop + h11 parser (the slow path)")
    noop = BENCH / "predictors" / "noop.py"
    return Group(
        name="trivial", title="trivial predictor (pure serving overhead)",
        predictor=noop, class_name="NoopPredictor", config={},
        variants=[
            servers.null_server(env),
            servers.baseline("B1", noop, "NoopPredictor", {}, env),
            _mlserve("B2", "noop", env, "mlserve, batching off (uvloop + httptools)"),
            _mlserve("B3", "noop-batched", env, "mlserve, batching on (max 16, 1 ms)"),
            _mlserve("B2-t2", "noop-t2", env, "B2 with threads_per_process 2"),
            h11,
        ],
        c1_count=300 if quick else 1000, per_point=0, min_duration=0.8 if quick else 1.0, timeout=5.0,
        slo_floor_ms=5.0, ladder=[500, 1000, 2000] if quick else [500, 1000, 2000, 3500],
        payloads=[{"text": "hello"}],
    )


def compose(quick: bool) -> Group:
    env = servers.server_env(1)
    config = {"engine": "torch", "threads": 1, "max_new_tokens": NEW_TOKENS}  # as in bench/cortex.yaml
    llama = config | {"engine": "llamacpp", "dtype": "float16"}  # as in bench/cortex.yaml
    variants = [
        servers.baseline("B1", GENERATOR, "TextGeneratorPredictor", config, env),
        _mlserve("B2", "compose", env, "mlserve, batching off"),
        _mlserve("B3", "compose-batched", env, "mlserve, batching on (max 8, 5 ms)"),
        _mlserve("B3-bf16", "compose-batched-bf16", env, "B3 with bfloat16 weights"),
        servers.baseline("B1-llama", GENERATOR, "TextGeneratorPredictor", llama, env),
        _mlserve("B2-llama", "compose-llama", env, "B2 on the llama.cpp engine (float16), 1 thread"),
        _mlserve("B2-llama-t2", "compose-llama-t2", env, "B2 on the llama.cpp engine (float16), 2 threads"),
        _mlserve("B3-llama", "compose-llama-batched", env, "B3 on the llama.cpp engine (rows decoded together)"),
        _mlserve("B4-llama", "compose-llama-continuous-t1", env, "B3-llama with continuous batching instead"),
        _mlserve("B3-llama-t2", "compose-llama-window-t2", env, "the shipped example: 2 threads, window batching"),
        _mlserve("B4-llama-t2", "compose-llama-continuous", env, "2 threads, continuous batching (one decode loop)"),
    ]
    if not quick:
        variants += [
            _mlserve("B3-tp2", "compose-batched-tp2", env, "B3 with threads_per_process 2 (two batches at once)"),
            _mlserve("B3-bf16-tp2", "compose-batched-bf16-tp2", env, "bfloat16 and threads_per_process 2"),
        ]
    return Group(
        name="compose", title=f"Smart Compose, SmolLM2-135M ({PREFIX_TOKENS}-token prefix, {NEW_TOKENS} new tokens)",
        predictor=GENERATOR, class_name="TextGeneratorPredictor", config=config, variants=variants,
        c1_count=6 if quick else 10, per_point=8 if quick else 12, min_duration=2.0, timeout=30.0,
        stream_on=("B2", "B2-llama"),
    )


def prefixes(tokenizer, texts: list[str] = EMAIL_TEXTS, n_tokens: int = PREFIX_TOKENS) -> list[str]:
    """Each text cut to its first `n_tokens` tokens (as someone mid-sentence would have typed)."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:n_tokens]
        out.append(tokenizer.decode(ids).rstrip())
    return out


def compose_ladder(single_s: float, ceiling_rps: float, points: int) -> list[float]:
    """Geometric offered rates from below a lone caller's rate to past the batched ceiling
    (of one core; variants with two batch workers may go further)."""
    low = 0.7 / single_s
    high = 1.3 * max(1.5 * ceiling_rps, 2.5 / single_s)
    step = (high / low) ** (1 / (points - 1))
    return [round(low * step**i, 2) for i in range(points)]


def point_duration(group: Group, rate: float) -> float:
    return max(group.min_duration, group.per_point / rate if group.per_point else 0.0)


def rotate(items: list, k: int) -> list:
    k %= len(items) if items else 1
    return items[k:] + items[:k]


def expected_in_flight(rate: float, latency_s: float) -> int:
    return max(4, min(256, math.ceil(rate * latency_s * 3)))
