"""B0 (a bare predictor call, the floor), B0b (batched calls, the ceiling), their fast-path
twins and the Smart Compose time breakdown, all in the benchmark's own process, no HTTP."""

from __future__ import annotations

import time
from contextlib import contextmanager
from itertools import pairwise

from bench import plan
from bench.baseline_app import load_predictor
from bench.loadgen import Sample
from bench.measure import Record


def single_calls(predict, payloads: list, count: int) -> list[Sample]:
    """`count` sequential single calls, as load-generator samples (status 200, no network)."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        predict(payloads[i % len(payloads)])
        samples.append(Sample(intended=start, sent=start, done=time.perf_counter(), status=200))
    return samples


def streamed_calls(stream, payloads: list, count: int) -> list[Sample]:
    """Sequential streamed calls: time to the first piece and to the end."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        sample = Sample(intended=start, sent=start, status=200)
        for _ in stream(payloads[i % len(payloads)]):
            if sample.first_event is None:
                sample.first_event = time.perf_counter()
        sample.done = time.perf_counter()
        samples.append(sample)
    return samples


def batched_calls(predict, payloads: list, sizes: tuple[int, ...], repeats: int) -> dict[int, list[float]]:
    """Seconds per `predict(list of n)` call for each batch size n."""
    out: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(repeats):
        for n in sizes:
            batch = [payloads[i % len(payloads)] for i in range(n)]
            start = time.perf_counter()
            predict(batch) if n > 1 else predict(batch[0])
            out[n].append(time.perf_counter() - start)
    return out


def compose_breakdown(predictor, texts: list[str], new_tokens: int, repeats: int = 5) -> dict:
    """Where one Smart Compose request's time goes, in ms (median over texts x repeats):
    tokenising, the prompt's forward pass, each further token's forward pass, the rest of
    `predict` (decoding text, word and sentence rules)."""
    import torch

    from mlserve.models import encode_left_padded, greedy_steps

    parts: dict[str, list[float]] = {"tokenize": [], "prefill": [], "decode_step": [], "predict": []}
    for _ in range(repeats):
        for text in texts:
            t0 = time.perf_counter()
            enc = encode_left_padded(predictor.generator.tokenizer, [text], 256)
            t1 = time.perf_counter()
            steps = greedy_steps(predictor.generator.model, enc["input_ids"], enc["attention_mask"], new_tokens + 1)
            marks = [t1]
            for _ in steps:
                marks.append(time.perf_counter())
            parts["tokenize"].append(t1 - t0)
            parts["prefill"].append(marks[1] - marks[0])
            parts["decode_step"].extend(b - a for a, b in pairwise(marks[1:]))
            start = time.perf_counter()
            predictor.predict({"text": text, "max_new_tokens": new_tokens})
            parts["predict"].append(time.perf_counter() - start)
    med = {k: sorted(v)[len(v) // 2] * 1000 for k, v in parts.items()}
    forward = med["prefill"] + new_tokens * med["decode_step"]
    return {
        "tokenize_ms": round(med["tokenize"], 2),
        "prefill_ms": round(med["prefill"], 2),
        "decode_step_ms": round(med["decode_step"], 2),
        "forward_passes": new_tokens + 1,
        "predict_ms": round(med["predict"], 2),
        "other_in_predict_ms": round(med["predict"] - med["tokenize"] - forward, 2),
        "torch_threads": torch.get_num_threads(),
    }


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
            # The llama.cpp engine, threads are its own: the weights widened to float16 (the
            # shipped setting, torch's exact text) and the quantised GGUF as it is (-q).
            for suffix, extra in (("", {"dtype": "float16"}), ("-q", {})):
                for threads in (1, 2):
                    config = group.config | {"engine": "llamacpp", "threads": threads, **extra}
                    self.predictors[f"B0-llama{suffix}-t{threads}"] = (
                        load_predictor(str(group.predictor), group.class_name, config), None)
            if not quick:
                self.predictors["B0-t2"] = (main, 2)
                self.predictors["B0-int8"] = (Int8ComposePredictor(group.config), None)

    @property
    def main(self):
        return self.predictors["B0"][0]

    def calibrate(self) -> tuple[float, float]:
        """(seconds per lone call of the served configuration, best batched requests/s of any)."""
        payloads = self.group.payloads
        single_calls(self.main.predict, payloads, 2)  # warm up
        single = sorted(s.latency for s in single_calls(self.main.predict, payloads, 3))[1]
        best = 0.0
        for name in ("B0", "B0-bf16", "B0-llama-t1"):  # the models that are also served
            if name in self.predictors:
                by_size = batched_calls(self.predictors[name][0].predict, payloads, (8,), 1)
                best = max(best, 8 / by_size[8][0])
        return single, best

    def run_round(self, records: dict[str, Record], batched: dict[str, dict[int, list[float]]]) -> None:
        g = self.group
        repeats = 1 if g.name == "compose" else 200
        for name, (predictor, threads) in self.predictors.items():
            with torch_threads(threads):
                count = g.c1_count if name == "B0" else max(3, g.c1_count // 2)
                record = records.setdefault(name, Record())
                samples = single_calls(predictor.predict, g.payloads, count)
                record.c1.extend(samples)
                record.c1_p50_by_round.append(round(sorted(s.latency for s in samples)[len(samples) // 2] * 1000, 3))
                if name == "B0" and hasattr(predictor, "stream"):
                    record.stream_c1.extend(streamed_calls(predictor.stream, g.payloads, max(3, count // 2)))
                sizes = SIZES if name == "B0" else (1, 4, 8)
                for n, secs in batched_calls(predictor.predict, g.payloads, sizes, repeats).items():
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
            same = sum(a == b for a, b in zip(reference, got, strict=True))
            diffs = [f"{a!r}->{b!r}" for a, b in zip(reference, got, strict=True) if a != b][:3]
            out[name] = f"{same}/{len(reference)} identical" + (f" (e.g. {'; '.join(diffs)})" if diffs else "")
        return out

    def breakdowns(self) -> dict:
        texts = [p["text"] for p in self.group.payloads]
        return {name: compose_breakdown(predictor, texts, plan.NEW_TOKENS, repeats=2 if self.quick else 3)
                for name, (predictor, threads) in self.predictors.items()
                if threads is None and predictor.generator.engine == "torch"}
