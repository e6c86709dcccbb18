"""Turn pooled samples into the results: summaries, ratios, targets, the table and the plot."""

from __future__ import annotations

from bench import stats
from bench.measure import Record

# Served batching variant -> the in-process batched ceiling of the same model (one core each;
# the tp2 variants may use both cores, so their efficiency can pass 1).
BATCH_PAIRS = {"B3": "B0b", "B3-bf16": "B0b-bf16", "B3-tp2": "B0b", "B3-bf16-tp2": "B0b-bf16",
               "B3-llama": "B0b-llama-t1", "B4-llama": "B0b-llama-t1"}


def variant_summary(record: Record, note: str, slo_ms: float) -> dict:
    load = []
    for rate in sorted(record.points):
        point = stats.summarize_rounds(record.points[rate], rate)
        for key, values in (("client_cpu_us_per_req", record.client_cpu_us.get(rate)),
                            ("server_cpu_us_per_req", record.server_cpu_us.get(rate))):
            point[key] = round(sorted(values)[len(values) // 2], 1) if values else None
        load.append(point)
    return {
        "note": note,
        "c1": stats.summarize(record.c1),
        "c1_p50_ms_by_round": record.c1_p50_by_round,
        "stream_c1": stats.summarize(record.stream_c1) if record.stream_c1 else None,
        "load": load,
        "ladder_stopped_at": record.stopped_at,
        "saturation_rps": stats.saturation_rps(load),
        "rps_at_slo": stats.throughput_at_slo(load, slo_ms),
    }


def batched_summary(seconds: dict[int, list[float]]) -> dict:
    out = {}
    for n, values in seconds.items():
        ms = stats.percentile(values, 50) * 1000
        out[str(n)] = {"ms": round(ms, 3), "rps": round(n / ms * 1000, 2), "calls": len(values)}
    return out


def _ratio(a, b) -> float | None:
    return None if a is None or not b else float(f"{a / b:.3g}")


def ratios(variants: dict, batched: dict, slo_ms: float, max_batch: int | None) -> dict:
    def overhead(name: str) -> float | None:
        a, b = (((variants.get(n) or {}).get("c1") or {}).get("latency_ms", {}).get("p50") for n in (name, "B0"))
        return None if a is None or b is None else round(a - b, 4)

    out = {
        "slo_ms": round(slo_ms, 3),
        "overhead_ms_B2_minus_B0_p50": overhead("B2"),
        "overhead_ms_B1_minus_B0_p50": overhead("B1"),
        "batching_gain_at_slo": {}, "batching_gain_at_saturation": {}, "efficiency_vs_B0b": {},
    }
    for name, ceiling in BATCH_PAIRS.items():
        if name not in variants:
            continue
        v = variants[name]
        b1 = variants.get("B1-llama" if "llama" in name else "B1", {})  # the hand-written endpoint, same engine
        out["batching_gain_at_slo"][name] = _ratio(v["rps_at_slo"], b1.get("rps_at_slo"))
        out["batching_gain_at_saturation"][name] = _ratio(v["saturation_rps"], b1.get("saturation_rps"))
        if ceiling in batched and max_batch:
            # The ceiling at the batch sizes the server may form.
            best = max(p["rps"] for n, p in batched[ceiling].items() if int(n) <= max_batch)
            out["efficiency_vs_B0b"][name] = _ratio(v["saturation_rps"], best)
    return out


def time_split(variants: dict, extra: dict, slo_ms: float) -> dict:
    """One Smart Compose request end to end (B2, concurrency 1), and the waiting added by load."""
    model = extra.get("time breakdown, one request in-process (ms)", {}).get("B0", {})
    b2, b0 = variants["B2"]["c1"]["latency_ms"]["p50"], variants["B0"]["c1"]["latency_ms"]["p50"]
    out = {"end to end p50 (B2)": b2, "predict in-process p50 (B0)": b0,
           "HTTP + runtime (B2 - B0)": round(b2 - b0, 2)}
    if model:
        out["of predict: tokenise"] = model["tokenize_ms"]
        out["of predict: prompt forward pass"] = model["prefill_ms"]
        out[f"of predict: {model['forward_passes'] - 1} more forward passes"] = round(
            (model["forward_passes"] - 1) * model["decode_step_ms"], 2)
        out["of predict: the rest (text rules, decoding)"] = model["other_in_predict_ms"]
    for name in ("B2", "B3", "B3-bf16", "B3-bf16-tp2"):
        v = variants.get(name)
        ok = [p for p in (v or {}).get("load", []) if (p["latency_ms"]["p90"] or 1e9) <= slo_ms]
        if ok:
            best = max(ok, key=lambda p: p["achieved_rps"] or 0)
            out[f"queueing + batch wait, {name} at {best['offered_rps']:g}/s (p50 - c1 p50)"] = round(
                best["latency_ms"]["p50"] - v["c1"]["latency_ms"]["p50"], 2)
    return out


def _check(label: str, value, ok: bool | None, target: str) -> dict:
    verdict = "n/a" if ok is None else "PASS" if ok else "FAIL"
    return {"target": label, "measured": value, "goal": target, "verdict": verdict}


def targets(results: dict) -> list[dict]:
    out = []
    trivial = results["groups"].get("trivial")
    if trivial:
        o = trivial["ratios"]["overhead_ms_B2_minus_B0_p50"]
        out.append(_check("serving overhead, trivial predictor, concurrency 1 (B2-B0 p50 ms)", o,
                          None if o is None else o <= 1.0, "<= 1 ms"))
    compose = results["groups"].get("compose")
    if compose:
        r = compose["ratios"]
        same = compose.get("extra", {}).get("suggestions identical to float32 single calls", {})
        for name, gain in r["batching_gain_at_slo"].items():
            base = "B1-llama" if "llama" in name else "B1"
            check = _check(f"batching gain {name}/{base} at p90 <= {r['slo_ms']:.0f} ms (2x single)", gain,
                           None if gain is None else gain >= 3.0, ">= 3x")
            quality = same.get("B0-bf16" if "bf16" in name else "B0")
            if quality and "bf16" in name:
                check["quality"] = quality
            out.append(check)
        torch_p90 = (compose["variants"].get("B2") or {}).get("c1", {}).get("latency_ms", {}).get("p90")
        for name in ("B2", "B1", "B3", "B3-bf16", "B3-tp2", "B3-bf16-tp2",
                     "B2-llama", "B2-llama-t2", "B1-llama", "B3-llama"):
            v = compose["variants"].get(name)
            if v:
                p90 = v["c1"]["latency_ms"]["p90"]
                ok = None if p90 is None else p90 <= 100
                check = _check(f"Smart Compose end to end p90, {name}, concurrency 1 (ms)", p90, ok,
                               "<= 100 ms (stretch 60)")
                if p90 is not None and p90 <= 60:
                    check["verdict"] = "PASS (stretch)"
                if "llama" in name and p90 and torch_p90:
                    check["quality"] = f"{torch_p90 / p90:.1f}x faster than B2 (torch) at p90, same run"
                quality = same.get("B0-bf16" if "bf16" in name else "B0")
                if quality and "bf16" in name:
                    check["quality"] = quality
                out.append(check)
    return out


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(results: dict) -> None:
    for name, g in results["groups"].items():
        print(f"\n== {g['title']} ==  (SLO: p90 <= {g['ratios']['slo_ms']:.1f} ms)")
        print(f"{'variant':<10} {'c1 p50':>8} {'c1 p90':>8} {'c1 p99':>8} {'TTFT p50':>9} {'sat rps':>8} "
              f"{'rps@SLO':>8}  note")
        for vname, v in g["variants"].items():
            lat = v["c1"]["latency_ms"]
            ttft = (v.get("stream_c1") or {}).get("ttft_ms") or {}
            print(f"{vname:<10} {_fmt(lat['p50'], 3):>8} {_fmt(lat['p90'], 3):>8} {_fmt(lat['p99'], 3):>8} "
                  f"{_fmt(ttft.get('p50')):>9} {_fmt(v.get('saturation_rps')):>8} {_fmt(v.get('rps_at_slo')):>8}"
                  f"  {v.get('note', '')}")
        for bname, sizes in g.get("batched", {}).items():
            row = "  ".join(f"{n}: {p['ms']:.1f}ms {p['rps']:.0f}/s" for n, p in sizes.items())
            print(f"{bname:<10} {row}")
        print("load (offered rps -> achieved rps, p50/p90/p99 ms, errors):")
        for vname, v in g["variants"].items():
            cells = [f"{p['offered_rps']:g}->{_fmt(p['achieved_rps'], 0)} "
                     f"{_fmt(p['latency_ms']['p50'])}/{_fmt(p['latency_ms']['p90'])}/{_fmt(p['latency_ms']['p99'])}"
                     + (f" err {p['error_rate']:.0%}" if p["error_rate"] else "")
                     + (f" srv {p['server_cpu_us_per_req']:.0f}us" if p.get("server_cpu_us_per_req") else "")
                     for p in v["load"]]
            if cells:
                print(f"  {vname:<8} " + " | ".join(cells))
        points = [p for v in g["variants"].values() for p in v["load"]]
        cpu = sorted(p["client_cpu_us_per_req"] for p in points if p.get("client_cpu_us_per_req"))
        lag = [p["send_lag_ms_p99"] for p in points if p.get("send_lag_ms_p99") is not None]
        if cpu:
            print(f"load generator: {cpu[len(cpu) // 2]:.0f} us CPU per request (median over points), "
                  f"send lag p99 {min(lag):.1f}-{max(lag):.1f} ms")
        r = g["ratios"]
        print(f"overhead B2-B0 p50: {_fmt(r['overhead_ms_B2_minus_B0_p50'], 3)} ms   "
              f"(B1-B0: {_fmt(r['overhead_ms_B1_minus_B0_p50'], 3)} ms)")
        print(f"batching gain at SLO: {r['batching_gain_at_slo']}  at saturation: {r['batching_gain_at_saturation']}")
        print(f"efficiency (served saturation / in-process batched ceiling): {r['efficiency_vs_B0b']}")
        for key, value in g.get("extra", {}).items():
            print(f"{key}:")
            for name, item in value.items():
                print(f"  {name}: {item}")
    if results.get("quality_gate"):
        from bench.quality import print_gate

        print_gate(results["quality_gate"])
    print("\n== targets ==")
    for t in results["targets"]:
        quality = f"  [suggestions vs float32: {t['quality']}]" if t.get("quality") else ""
        print(f"[{t['verdict']:<14}] {t['target']}: {t['measured']} (goal {t['goal']}){quality}")


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    groups = results["groups"]
    names = sorted({v for g in groups.values() for v in g["variants"]})
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}  # one colour per variant everywhere
    fig, axes = plt.subplots(1, len(groups), figsize=(7 * len(groups), 5), squeeze=False)
    for ax, (_name, g) in zip(axes[0], groups.items(), strict=True):
        for vname, v in g["variants"].items():
            pts = [p for p in v["load"] if p["latency_ms"]["p50"] is not None]
            if not pts:
                continue
            x = [p["offered_rps"] for p in pts]
            color = colors[vname]
            ax.plot(x, [p["latency_ms"]["p50"] for p in pts], "o-", color=color, label=vname)
            ax.plot(x, [p["latency_ms"]["p90"] for p in pts], "x--", color=color, alpha=0.6)
        ax.axhline(g["ratios"]["slo_ms"], color="grey", linestyle=":", label="SLO (p90)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        some = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else "")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(some)
        ax.set_xlabel("offered load (requests/s)")
        ax.set_ylabel("latency from scheduled send (ms)")
        ax.set_title(f"{g['title']}\nsolid: p50, dashed: p90", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
