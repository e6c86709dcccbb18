"""Translation quality by prompt design, side by side: the shipped translator (repo cortex.yaml)
and prompt variants on the same model, the same sentences and the same acceptance rule.

    python bench/translate_quality.py                    # every setting, tuning and held-out sets
    python bench/translate_quality.py --settings "8 nearest" --rounds 2

Sets: tests/predictors/eval_translate.json (tuning: choices were made on it) and
eval_translate_heldout.json (never used to choose). Accepted = bench/eval_sets.translation_ok, for
every setting. Per setting: accepted share, p50/p90 ms per sentence (one sentence at a time through
`predict`, the setting's shared examples already computed, as in a running API) and the load
average (the machine is shared: compare latencies with the baseline's in the same run; --rounds
alternates the settings so that a busy minute lands on all of them).
"any setting" counts a sentence accepted when at least one setting got it right: the most that
choosing among these prompts per sentence could reach with this model.

Example pairs come from bench/translation_examples.tsv (none is an eval sentence); "nearest" ranks
them by the words they share with the sentence, rarer words weighing more (idf).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from bench.eval_sets import items, translation_ok  # noqa: E402
from bench.servers import REPO  # noqa: E402
from bench.stats import percentile  # noqa: E402

BASELINE = "shipped"
SETS = {"tuning": "translate", "held-out": "translate_heldout"}
HEADER = "English-German translations:\n\n"
_WORD = re.compile(r"[a-z']+")


def example_pool(path: Path = REPO / "bench" / "translation_examples.tsv") -> list[tuple[str, str]]:
    rows = (line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines(True))
    return [(en, de) for en, de in (r for r in rows if len(r) == 2 and not r[0].startswith("#"))]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


class Nearest:
    """The k pool pairs sharing the most idf-weighted English words with a sentence."""

    def __init__(self, pool: list[tuple[str, str]]):
        self.pool, self.bags = pool, [_words(en) for en, _ in pool]
        counts: dict[str, int] = {}
        for bag in self.bags:
            for w in bag:
                counts[w] = counts.get(w, 0) + 1
        self.idf = {w: math.log((len(pool) + 1) / (c + 0.5)) for w, c in counts.items()}

    def __call__(self, sentence: str, k: int) -> list[tuple[str, str]]:
        words = _words(sentence)
        score = [sum(self.idf[w] for w in words & bag) for bag in self.bags]
        order = sorted(range(len(self.pool)), key=lambda i: -score[i])[:k]
        return [self.pool[i] for i in reversed(order)]  # the nearest last, next to the sentence


def block(pairs, source: str = "en", target: str = "de") -> str:
    return "".join(f"{source}: {en}\n{target}: {de}\n\n" for en, de in pairs)


def settings(pool: list[tuple[str, str]]) -> dict:
    """name: (shared prefix text or None for the shipped one, row prompt function or None)."""
    near = Nearest(pool)
    en_de = lambda s: f"en: {s}\nde:"  # noqa: E731
    return {
        BASELINE: (None, None),
        "16 fixed": (HEADER + block(pool[:16]), None),
        "English/German labels, 16 fixed": (block(pool[:16], "English", "German"), lambda s: f"English: {s}\nGerman:"),
        "instruction + 8 fixed": ("Translate the following English sentences into correct, natural German.\n\n"
                                  + block(pool[:8]), None),
        "8 nearest": (HEADER, lambda s: block(near(s, 8)) + en_de(s)),
        "8 fixed + 2 nearest": (HEADER + block(pool[:8]), lambda s: block(near(s, 2)) + en_de(s)),
        "8 fixed + 4 nearest": (HEADER + block(pool[:8]), lambda s: block(near(s, 4)) + en_de(s)),
    }


def shipped_predictor():
    from bench.baseline_app import load_predictor

    api = next(a for a in yaml.safe_load((REPO / "cortex.yaml").read_text()) if a["name"] == "translator")
    return load_predictor(REPO / "predictors" / "translator.py", "TranslatorPredictor", api["predictor"]["config"]), api


def apply(predictor, setting, shipped) -> None:
    """Put a setting's prompt on the predictor (the shipped one when both parts are None)."""
    prefix_text, row = setting
    predictor.prefix = shipped[0] if prefix_text is None else predictor.generator.encode(prefix_text)
    predictor.row_prompt = shipped[1] if row is None else row


def measure(predictor, sentences: list[str]) -> tuple[list[str], list[float]]:
    predictor.predict({"text": sentences[0]})  # the shared examples into the KV cache
    outputs, ms = [], []
    for text in sentences:
        started = time.perf_counter()
        outputs.append(predictor.predict({"text": text})["translation"])
        ms.append((time.perf_counter() - started) * 1000)
    return outputs, ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pool = example_pool()
    all_settings = settings(pool)
    parser.add_argument("--settings", nargs="*", default=list(all_settings), help="names from the list above")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all settings, pooled (rotates noise)")
    parser.add_argument("--show", action="store_true", help="print every rejected translation")
    args = parser.parse_args(argv)
    chosen = {name: all_settings[name] for name in dict.fromkeys([BASELINE, *args.settings])}
    predictor, api = shipped_predictor()
    shipped = (predictor.prefix, predictor.row_prompt)
    data = {label: items(name) for label, name in SETS.items()}
    results = {(s, label): ([], []) for s in chosen for label in data}  # outputs of the last round, all ms
    for _ in range(args.rounds):
        for name, setting in chosen.items():
            apply(predictor, setting, shipped)
            for label, dataset in data.items():
                outputs, ms = measure(predictor, [i["en"] for i in dataset])
                results[name, label] = (outputs, results[name, label][1] + ms)
            print(f"  {name} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    config = api["predictor"]["config"]
    print(f"\ntranslation by prompt, {config['engine']} {config.get('dtype')} {config.get('threads')} thread(s), "
          f"{len(pool)} example pairs, {args.rounds} round(s); baseline = {BASELINE} (cortex.yaml)")
    print(f"{'setting':34} {'set':9} {'accepted':>14} {'p50 ms':>7} {'p90 ms':>7} {'p50/base':>9} {'p90/base':>9}")
    for label, dataset in data.items():
        base_p50, base_p90 = (percentile(results[BASELINE, label][1], q) for q in (50, 90))
        anyone = [False] * len(dataset)
        for name in chosen:
            outputs, ms = results[name, label]
            ok = [translation_ok(o, i["de"]) for o, i in zip(outputs, dataset, strict=True)]
            anyone = [a or b for a, b in zip(anyone, ok, strict=True)]
            share = f"{sum(ok)}/{len(ok)} = {100 * sum(ok) / len(ok):.0f} %"
            print(f"{name:34} {label:9} {share:>14} {percentile(ms, 50):7.0f} {percentile(ms, 90):7.0f} "
                  f"{percentile(ms, 50) / base_p50:8.2f}x {percentile(ms, 90) / base_p90:8.2f}x")
            if args.show:
                for good, out, item in zip(ok, outputs, dataset, strict=True):
                    if not good:
                        print(f"      -- {item['en']} -> {out}")
        print(f"{'any setting':34} {label:9} {sum(anyone):>6}/{len(anyone)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
