"""mlserve's serving benchmark, in one process run (see bench/README.md).

    .venv/bin/python bench/run.py            # full: 3 rounds, ~10 min
    .venv/bin/python bench/run.py --quick    # 1 round, fewer variants, ~2 min

Writes bench/results/<timestamp>.json and .png (server logs in <timestamp>-logs/) and prints
the table, the ratios and the targets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__" and __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import plan, report, typing_load  # noqa: E402
from bench.measure import Record, run_variant  # noqa: E402
from bench.servers import REPO, Server  # noqa: E402


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPU time spent busy over `seconds` (whoever used it)."""
    def sample():
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def wait_quiet(limit: float) -> float:
    busy = cpu_busy(2.0)
    deadline = time.monotonic() + limit
    while busy > 0.1 and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: {busy:.0%} busy", flush=True)
        busy = cpu_busy(5.0)
    if busy > 0.1:
        print(f"WARNING: the machine is {busy:.0%} busy before the benchmark; numbers will be noisy", flush=True)
    return busy


def run_group(group: plan.Group, args, logs: Path) -> dict:
    import uvloop

    from bench.inprocess import InProcess

    print(f"\n-- {group.title}: loading --", flush=True)
    inproc = InProcess(group, args.quick)
    gc.freeze()  # the models' objects never need collecting; keeps each point's gc.collect() short
    if group.name == "compose":
        group.payloads = [{"text": t, "max_new_tokens": plan.NEW_TOKENS} for t in plan.prefixes(inproc.main.generator.tokenizer)]
    servers = [Server(v, logs) for v in group.variants]
    failed: dict[str, str] = {}
    try:
        for server in servers:
            server.start()
        for server in list(servers):
            try:
                server.wait_ready(group.payloads[0])
            except RuntimeError as exc:  # one broken variant should not sink the whole run
                print(f"SKIPPED {server.variant.name}: {exc}", flush=True)
                failed[server.variant.name] = str(exc)[:2000]
                server.stop()
                servers.remove(server)
        single, ceiling = inproc.calibrate()
        if group.name == "compose":
            group.ladder = plan.compose_ladder(single, ceiling, 4 if args.quick else 7)
        slo_hint = max(2 * single * 1000, group.slo_floor_ms)
        print(f"single call {single * 1000:.2f} ms, batched ceiling {ceiling:.0f}/s, ladder {group.ladder}",
              flush=True)
        records: dict[str, Record] = {}
        batched: dict[str, dict[int, list[float]]] = {}
        busy = []
        for round_no in range(args.rounds):
            order = plan.rotate(["in-process", *[s.variant.name for s in servers]], round_no)
            print(f"round {round_no + 1}/{args.rounds}: {' '.join(order)}", flush=True)
            for name in order:
                if name == "in-process":
                    inproc.run_round(records, batched)
                    continue
                server = next(s for s in servers if s.variant.name == name)
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{name} died:\n{server.log_tail()}")
                uvloop.run(run_variant(server, group, records.setdefault(name, Record()), round_no, slo_hint))
            busy.append(cpu_busy(0.5))
        extra = {"failed to start": failed} if failed else {}
        if group.name == "compose":
            extra["suggestions identical to float32 single calls"] = inproc.agreement()
            extra["time breakdown, one request in-process (ms)"] = inproc.breakdowns()
            typists = {s.variant.name: s.url for s in servers if s.variant.name in plan.TYPING_VARIANTS}
            print(f"typing workload on {', '.join(typists)}", flush=True)
            extra["typing workload (1 person, 5-8 chars/s, a request per keystroke after the first word)"] = \
                typing_load.run(typists, plan.EMAIL_TEXTS[:2 if args.quick else 4])
    finally:
        for server in servers:
            server.stop()
    return summarize_group(group, records, batched, extra, busy)


def summarize_group(group, records, batched, extra, busy) -> dict:
    notes = {s.name: s.note for s in group.variants}
    first = {name: report.variant_summary(records[name], "in-process", 0) for name in records if name.startswith("B0")}
    b1 = report.variant_summary(records["B1"], notes["B1"], 0) if "B1" in records else None
    single = b1["c1"]["latency_ms"]["p50"] if b1 else first["B0"]["c1"]["latency_ms"]["p50"]
    slo = max(2 * single, group.slo_floor_ms)
    variants = dict(first)
    variants.update({name: report.variant_summary(records[name], notes[name], slo)
                     for name in notes if name in records})
    batched_out = {name: report.batched_summary(sizes) for name, sizes in batched.items()}
    if group.name == "compose" and "B2" in variants:
        extra["where the time goes (ms)"] = report.time_split(variants, extra, slo)
    return {
        "title": group.title, "ladder": group.ladder, "payload_example": group.payloads[0],
        "slo_rule": f"p90 <= max(2 x B1 p50 at concurrency 1, {group.slo_floor_ms:g} ms)",
        "variants": variants, "batched": batched_out,
        # In-process batches of the trivial predictor take nanoseconds: no ceiling worth comparing.
        "ratios": report.ratios(variants, batched_out, slo, max_batch=None if group.name == "trivial" else 8),
        "extra": extra, "cpu_busy_after_each_round": busy,
    }


def meta(args, busy: float) -> dict:
    import torch

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": commit.stdout.strip(), "args": vars(args),
        "cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
        "torch": torch.__version__, "cpu_busy_before": busy, "loadavg_before": os.getloadavg(),
        "client": "open-loop raw asyncio HTTP/1.1 keep-alive (uvloop), Poisson arrivals, "
                  "latency from scheduled send",
    }


def compose_gate(quick: bool) -> list[dict]:
    """bench/quality.py's gate on the compose eval set: the served llama.cpp setting (and, in a
    full run, the other settings) against torch float32."""
    from bench import quality

    names = ["torch fp32 t1", "llamacpp f16 t1"] + ([] if quick else ["llamacpp f16 t2", "llamacpp t1", "torch bf16 t1"])
    print("quality gate on the compose eval set: " + ", ".join(names), flush=True)
    rows = quality.gate("compose", quality.run_set("compose", {n: quality.SETTINGS[n] for n in names}, {}))
    return [{k: v for k, v in row.items() if k not in ("outputs", "ms")} for row in rows]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="mlserve serving benchmark")
    parser.add_argument("--quick", action="store_true", help="1 round, fewer variants and points (~2 min)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, or 1 with --quick)")
    parser.add_argument("--only", choices=["trivial", "compose"], help="run one group")
    parser.add_argument("--variants", nargs="+", metavar="NAME",
                        help="serve only these variants (and B1, the baseline the SLO comes from), e.g. B1-llama B3-llama")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="seconds to wait for other processes to go quiet first")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    # A plain kill should still stop the servers (the `finally` in run_group).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = REPO / "bench" / "results"
    logs = out / f"{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {"meta": meta(args, wait_quiet(args.wait_quiet)), "groups": {}}
    groups = [plan.trivial(args.quick), plan.compose(args.quick)]
    for group in groups:
        if args.variants:
            group.variants = [v for v in group.variants if v.name in ("B1", *args.variants)]
        if args.only in (None, group.name):
            results["groups"][group.name] = run_group(group, args, logs)
    if "compose" in results["groups"]:  # the quality gate of the same run (translation: bench/quality.py)
        results["quality_gate"] = compose_gate(args.quick)
    results["targets"] = report.targets(results)
    results["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    results["meta"]["loadavg_after"] = os.getloadavg()
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=1))
    report.plot(results, out / f"{stamp}.png")
    report.print_tables(results)
    print(f"\nresults: {out / f'{stamp}.json'}\nplot:    {out / f'{stamp}.png'}\nlogs:    {logs}"
          f"\nwall time {results['meta']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
