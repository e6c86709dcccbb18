"""The in-process side of a group: the predictor objects behind B0/B0b and their fast paths."""

from __future__ import annotations

import time
from contextlib import contextmanager

from bench import inprocess, plan
from bench.baseline_app import load_predictor
from bench.measure import Record

SIZES = (1, 2, 4, 8, 16)


@contextmanager
def torch_threads(n: int | None):
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        time.sleep(0.3)  # let idle OpenMP workers stop spinning before the next measurement


class InProcess:
    """name -> (predictor, torch threads); "B0" is the group's predictor as served."""

    def __init__(self, group: plan.Group, quick: bool):
        self.group, self.quick = group, quick
        main = load_predictor(str(group.predictor), group.class_name, group.config)
        self.predictors = {"B0": (main, None)}
        if group.name == "compose":
            from bench.predictors.compose_int8 import Int8ComposePredictor

            bf16 = load_predictor(str(group.predictor), group.class_name, group.config | {"dtype": "bfloat16"})
            self.predictors["B0-bf16"] = (bf16, None)
            if not quick:
                self.predictors["B0-t2"] = (main, 2)
                self.predictors["B0-int8"] = (Int8ComposePredictor(group.config), None)

    @property
    def main(self):
        return self.predictors["B0"][0]

    def calibrate(self) -> tuple[float, float]:
        """(seconds per lone call, best batched requests/s) of the served configuration."""
        predict = self.main.predict
        inprocess.bare(predict, self.group.payloads, 2)  # warm up
        single = sorted(s.latency for s in inprocess.bare(predict, self.group.payloads, 3))[1]
        batched = inprocess.batched(predict, self.group.payloads, (4, 8), 1)
        return single, max(n / t[0] for n, t in batched.items())

    def run_round(self, records: dict[str, Record], batched: dict[str, dict[int, list[float]]]) -> None:
        g = self.group
        repeats = 1 if g.name == "compose" else 200
        for name, (predictor, threads) in self.predictors.items():
            with torch_threads(threads):
                count = g.c1_count if name == "B0" else max(3, g.c1_count // 2)
                record = records.setdefault(name, Record())
                samples = inprocess.bare(predictor.predict, g.payloads, count)
                record.c1.extend(samples)
                record.c1_p50_by_round.append(round(sorted(s.latency for s in samples)[len(samples) // 2] * 1000, 3))
                if name == "B0" and hasattr(predictor, "stream"):
                    record.stream_c1.extend(inprocess.bare_stream(predictor.stream, g.payloads, max(3, count // 2)))
                sizes = SIZES if name == "B0" else (1, 4, 8)
                for n, secs in inprocess.batched(predictor.predict, g.payloads, sizes, repeats).items():
                    batched.setdefault(name.replace("B0", "B0b", 1), {}).setdefault(n, []).extend(secs)

    def agreement(self) -> dict[str, str]:
        """How often each fast path (batched) suggests exactly what float32 one at a time suggests;
        "B0" compares float32 batched with float32 alone (padding must not change answers)."""
        payloads = list(self.group.payloads)
        reference = [self.main.predict(p)["completion"] for p in payloads]  # one at a time
        out = {}
        for name, (predictor, _) in self.predictors.items():
            if name == "B0-t2":
                continue
            got = [r["completion"] for r in predictor.predict(payloads)]  # batched, as B3 serves it
            same = sum(a == b for a, b in zip(reference, got))
            diffs = [f"{a!r}->{b!r}" for a, b in zip(reference, got) if a != b][:3]
            out[name] = f"{same}/{len(reference)} identical" + (f" (e.g. {'; '.join(diffs)})" if diffs else "")
        return out

    def breakdown(self) -> dict:
        texts = [p["text"] for p in self.group.payloads]
        return inprocess.compose_breakdown(self.main, texts, plan.NEW_TOKENS, repeats=2 if self.quick else 4)
