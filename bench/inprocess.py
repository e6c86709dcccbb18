"""B0 (a bare predictor call, the floor), B0b (batched calls, the ceiling) and the Smart
Compose time breakdown, all in the benchmark's own process with no HTTP."""

from __future__ import annotations

import time

from bench.loadgen import Sample


def bare(predict, payloads: list, count: int) -> list[Sample]:
    """`count` sequential single calls, as load-generator samples (status 200, no network)."""
    samples = []
    for i in range(count):
        start = time.perf_counter()
        predict(payloads[i % len(payloads)])
        samples.append(Sample(intended=start, sent=start, done=time.perf_counter(), status=200))
    return samples


def bare_stream(stream, payloads: list, count: int) -> list[Sample]:
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


def batched(predict, payloads: list, sizes: tuple[int, ...], repeats: int) -> dict[int, list[float]]:
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
            enc = encode_left_padded(predictor.tokenizer, [text], 256)
            t1 = time.perf_counter()
            steps = greedy_steps(predictor.model, enc["input_ids"], enc["attention_mask"], new_tokens + 1)
            marks = [t1]
            for _ in steps:
                marks.append(time.perf_counter())
            parts["tokenize"].append(t1 - t0)
            parts["prefill"].append(marks[1] - marks[0])
            parts["decode_step"].extend(b - a for a, b in zip(marks[1:], marks[2:]))
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
