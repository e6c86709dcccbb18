"""The quality gate: every generation engine/precision against torch float32, same prompts.

    python bench/quality.py                 # compose + translation, every setting
    python bench/quality.py --only compose

Smart Compose (tests/predictors/eval_compose.json): the share of completions identical to torch
float32's and the share plausible by the eval set's rule. Translation (eval_translate.json): the
share identical to torch float32's and the share accepted. A setting passes the gate when it is
at least as good as torch float32 on plausible and accepted; only a passing setting may be a default.
Also prints each setting's median latency per request (compose) and per sentence (translation),
measured here, one request at a time.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eval_sets import compose_ok, items, translation_ok  # noqa: E402
from bench.servers import REPO  # noqa: E402

SETTINGS = {
    "torch fp32 t1": {"engine": "torch", "threads": 1},
    "torch fp32 t2": {"engine": "torch", "threads": 2},
    "torch bf16 t1": {"engine": "torch", "threads": 1, "dtype": "bfloat16"},
    "llamacpp t1": {"engine": "llamacpp", "threads": 1},
    "llamacpp t2": {"engine": "llamacpp", "threads": 2},
    "llamacpp f16 t1": {"engine": "llamacpp", "threads": 1, "dtype": "float16"},
    "llamacpp f16 t2": {"engine": "llamacpp", "threads": 2, "dtype": "float16"},
}
BASELINE = "torch fp32 t1"


def _load(name: str, config: dict):
    from bench.baseline_app import load_predictor

    cls = {"text_generator": "TextGeneratorPredictor", "translator": "TranslatorPredictor"}[name]
    return load_predictor(REPO / "predictors" / f"{name}.py", cls, config)


def run_set(task: str, settings: dict, known: dict) -> dict:
    """{setting: (outputs, latencies in ms)} for the compose or the translation eval set;
    settings in `known` ({(task, setting): row} of an earlier run) are taken from there."""
    if task == "compose":
        name, field, result = "text_generator", "text", "completion"
        inputs = [i["text"] for i in items("compose")]
    else:
        name, field, result = "translator", "text", "translation"
        inputs = [i["en"] for i in items("translate")]
    out = {}
    for setting, config in settings.items():
        if (task, setting) in known:
            out[setting] = (known[task, setting]["outputs"], known[task, setting]["ms"])
            continue
        predictor = _load(name, config)
        predictor.predict({field: inputs[0]})  # warm
        outputs, ms = [], []
        for text in inputs:
            started = time.perf_counter()
            outputs.append(predictor.predict({field: text})[result])
            ms.append((time.perf_counter() - started) * 1000)
        out[setting] = (outputs, ms)
        print(f"  {task}: {setting} done, median {statistics.median(ms):.0f} ms", flush=True)
        del predictor
        gc.collect()
    return out


def gate(task: str, results: dict) -> list[dict]:
    base = results[BASELINE][0] if BASELINE in results else next(iter(results.values()))[0]
    if task == "compose":
        oks = [lambda o, i=i: compose_ok(o, i["accept"]) for i in items("compose")]
    else:
        oks = [lambda o, i=i: translation_ok(o, i["de"]) for i in items("translate")]
    base_good = sum(ok(o) for ok, o in zip(oks, base, strict=True))
    rows = []
    for setting, (outputs, ms) in results.items():
        good = sum(ok(o) for ok, o in zip(oks, outputs, strict=True))
        rows.append({"task": task, "setting": setting, "n": len(outputs),
                     "identical": sum(a == b for a, b in zip(outputs, base, strict=True)), "good": good,
                     "median_ms": round(statistics.median(ms), 1), "p90_ms": round(_p90(ms), 1),
                     "passes": good >= base_good, "outputs": outputs, "ms": ms})
    return rows


def _p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.9 * len(xs)))]


def print_gate(rows: list[dict]) -> None:
    label = {"compose": "plausible", "translate": "accepted"}
    print(f"\nquality gate (against {BASELINE}; passes = at least as many plausible/accepted)")
    print(f"{'task':10} {'setting':16} {'identical':>10} {'good':>14} {'median ms':>10} {'p90 ms':>8}  gate")
    for r in rows:
        good = f"{r['good']}/{r['n']} {label[r['task']]}"
        print(f"{r['task']:10} {r['setting']:16} {r['identical']:>4}/{r['n']:<5} {good:>14} "
              f"{r['median_ms']:>10} {r['p90_ms']:>8}  {'PASS' if r['passes'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["compose", "translate"])
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), help="names from SETTINGS")
    parser.add_argument("--out", type=Path, help="write the rows (with every output) as JSON here")
    parser.add_argument("--reuse", type=Path, nargs="*", default=[],
                        help="take the settings found in these earlier --out files from them")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="run only --settings (gate them later with --reuse); the gate then compares with the first")
    args = parser.parse_args(argv)
    first = [] if args.skip_baseline else [BASELINE]
    chosen = {s: SETTINGS[s] for s in dict.fromkeys([*first, *args.settings])}
    known = {(r["task"], r["setting"]): r for path in args.reuse for r in json.loads(path.read_text())}
    rows = []
    for task in ["compose", "translate"] if args.only is None else [args.only]:
        rows += gate(task, run_set(task, chosen, known))
    print_gate(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
