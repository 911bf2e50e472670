"""`make bench`: every benchmark beside its bare-Temporal baseline, in one run on one machine.

    python -m bench                      # everything, 3 repeats (about 15 minutes on 2 cores)
    python -m bench --only intake,surge  # some of it
    python -m bench --quick              # small sizes, 1 repeat: does the harness work?

Prints a table (medians over the repeats, ratios against bare Temporal measured in the same run, the
targets of issue 7) and writes the whole run as JSON to bench/results/. Exit status 1 when a count is
wrong (a finding lost or applied twice, an API error, a history over its limit, a cost above the
recorded baseline); a ratio below its target is reported, not failed: it is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api_load, delivery, intake, latency, surge, year
from bench.lifecycle import BASELINE, LifecycleCost, cost_increases
from bench.report import machine
from bench.stack import PROJECT, own_stack, peak_rss_kib

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("intake", "surge", "year", "cost", "latency", "delivery")


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"repeats": 1, "intake_findings": 10_000, "bare_signals": 500, "bare_batched_findings": 20_000,
                "surge_policies": 20, "surge_incidents": 100, "year_findings": 10_000, "year_bursts": 10,
                "latency_seconds": 20, "latency_rate": 20, "delivery_seconds": 20, "delivery_rate": 20,
                "delivery_surge": 100}
    return {"repeats": 3, "intake_findings": 100_000, "bare_signals": 3_000, "bare_batched_findings": 200_000,
            "surge_policies": 200, "surge_incidents": 1_000, "year_findings": 100_000, "year_bursts": 40,
            "latency_seconds": 120, "latency_rate": 20, "delivery_seconds": 120, "delivery_rate": 20,
            "delivery_surge": 1_000}


async def run(only: tuple[str, ...], size: dict[str, Any], *, say=print) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if {"intake", "surge", "latency", "delivery"} & set(only):
        settings = delivery.SETTINGS if "delivery" in only else None
        async with own_stack(say=say, settings=settings) as stack:
            if "intake" in only:
                results["intake"] = await _intake(stack, size, say=say)
            if "surge" in only:
                results["surge"] = await _surge(stack, size, say=say)
            if "latency" in only:
                results["latency"] = await _latency(stack, size, say=say)
            if "delivery" in only:  # last: its endpoints stay registered until it ends
                results["delivery"] = await _delivery(stack, size, say=say)
            results["worker_peak_rss_kib"] = peak_rss_kib(stack.worker) if stack.worker else None
    if "year" in only:
        plan = year.Plan(findings=size["year_findings"], bursts=size["year_bursts"])
        result = await year.year_of_monitoring(plan, say=say)
        results["year"] = {**asdict(result), "exact": result.exact, "passed": result.passed,
                           "history_limit": year.HISTORY_LIMIT}
    if "cost" in only:
        results["cost"] = await asyncio.to_thread(_cost, say)
    return results


async def _intake(stack, size, *, say) -> dict[str, Any]:
    cast = await api_load.prepare(stack, 20, say=say)
    runs: list[dict[str, Any]] = []
    async with stack.bare_worker() as task_queue:
        for repeat in range(size["repeats"]):
            one = await intake.bare_intake(stack, task_queue, findings=size["bare_signals"], per_signal=1,
                                           workflows=20, in_flight=100, seed=repeat)
            batched = await intake.bare_intake(stack, task_queue, findings=size["bare_batched_findings"],
                                               per_signal=500, workflows=20, in_flight=16, seed=repeat)
            ours = await intake.cyberins_intake(stack, cast, findings=size["intake_findings"], per_post=5_000,
                                                policies_per_post=5, in_flight=4, seed=repeat)
            runs.append({"cyberins": asdict(ours) | {"per_second": ours.per_second},
                         "bare_per_signal": asdict(one) | {"per_second": one.per_second},
                         "bare_batched": asdict(batched) | {"per_second": batched.per_second}})
            say(f"intake {repeat + 1}: cyberins {ours.per_second:,.0f}/s, bare per signal {one.per_second:,.0f}/s, "
                f"bare 500 per signal {batched.per_second:,.0f}/s; lost {ours.lost}, twice {ours.twice}")
    median = {name: statistics.median(r[name]["per_second"] for r in runs)
              for name in ("cyberins", "bare_per_signal", "bare_batched")}
    return {"runs": runs, "median_per_second": median,
            "ratio_to_per_signal": median["cyberins"] / median["bare_per_signal"],
            "ratio_to_batched": median["cyberins"] / median["bare_batched"],
            "lost": sum(r["cyberins"]["lost"] for r in runs), "twice": sum(r["cyberins"]["twice"] for r in runs)}


async def _surge(stack, size, *, say) -> dict[str, Any]:
    cast = await api_load.prepare(stack, size["surge_policies"], say=say)
    incidents = size["surge_incidents"]
    runs = []
    for repeat in range(size["repeats"]):
        bare = await surge.bare_surge(stack, incidents=incidents, in_flight=50)
        ours = await surge.cyberins_surge(stack, cast, incidents=incidents, in_flight=50)
        runs.append({"cyberins_seconds": ours, "bare_seconds": bare})
        say(f"surge {repeat + 1}: {incidents} incidents, cyberins {ours:.1f} s, bare {bare:.1f} s")
    ours = statistics.median(r["cyberins_seconds"] for r in runs)
    bare = statistics.median(r["bare_seconds"] for r in runs)
    return {"runs": runs, "incidents": incidents, "policies": size["surge_policies"],
            "median_cyberins_per_second": incidents / ours, "median_bare_per_second": incidents / bare,
            "ratio": bare / ours}


async def _latency(stack, size, *, say) -> dict[str, Any]:
    seconds, rate = size["latency_seconds"], size["latency_rate"]
    report = await api_load.measure(stack, duration=seconds, rate=rate, policies=20, say=say)
    async with stack.bare_worker() as task_queue:
        bare = await latency.bare_latency(stack, task_queue, duration=seconds, rate=rate, read_share=0.6, batch_max=50)
    ours = report.overall
    say(f"latency: cyberins p50 {ours.p50_ms} ms p99 {ours.p99_ms} ms; bare p50 {bare.p50_ms} ms p99 {bare.p99_ms} ms")
    return {"cyberins": asdict(ours), "bare": asdict(bare), "passed": report.passed, "findings": report.findings,
            "duration_s": seconds, "rate_per_s": rate,
            "ratio_p50": ours.p50_ms / bare.p50_ms, "ratio_p99": ours.p99_ms / bare.p99_ms}


async def _delivery(stack, size, *, say) -> dict[str, Any]:
    cast = await api_load.prepare(stack, size["surge_policies"], say=say)
    return await delivery.measure(stack, cast=cast, seconds=size["delivery_seconds"], rate=size["delivery_rate"],
                                  surge_size=size["delivery_surge"], incidents=size["surge_incidents"],
                                  repeats=size["repeats"], say=say)


def _cost(say) -> dict[str, Any]:
    """The lifecycle cost test measures; here its numbers are set beside the committed baseline."""
    with tempfile.TemporaryDirectory() as folder:
        measured = Path(folder) / "cost.json"
        environment = {**os.environ, "CYBERINS_COST_OUT": str(measured)}
        environment.pop("CYBERINS_RECORD_COST", None)
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/workflows/test_lifecycle_cost.py"],
            cwd=PROJECT, env=environment, check=False, capture_output=True,
        )
        if not measured.exists():
            return {"passed": False, "error": "the lifecycle test did not run to its measurement"}
        cost = LifecycleCost.from_json(measured.read_text())
    baseline = LifecycleCost.from_json(BASELINE.read_text())
    grown = cost_increases(baseline, cost, ("events", "activities", "local_activities"), {})
    now, base = cost.total, baseline.total
    say(f"cost: {now.events} events, {now.activities}+{now.local_activities} activities "
        f"(baseline {base.events}, {base.activities}+{base.local_activities})")
    return {"measured": json.loads(cost.to_json()), "baseline": json.loads(baseline.to_json()), "grown": grown,
            "passed": not any("activities" in line for line in grown)}


def table(results: dict[str, Any]) -> list[str]:
    rows = [("benchmark", "cyberins", "bare Temporal", "ratio", "target", "")]

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if i := results.get("intake"):
        m = i["median_per_second"]
        rows.append(("intake, findings/s", f"{m['cyberins']:,.0f}", f"{m['bare_per_signal']:,.0f} (1 per signal)",
                     f"{i['ratio_to_per_signal']:.1f}x", ">= 50x", mark(i["ratio_to_per_signal"] >= 50)))
        rows.append(("", f"lost {i['lost']}, twice {i['twice']}", f"{m['bare_batched']:,.0f} (500 per signal)",
                     f"{i['ratio_to_batched']:.2f}", ">= 0.25", mark(i["ratio_to_batched"] >= 0.25)))
    if s := results.get("surge"):
        rows.append((f"surge, {s['incidents']:,} incidents/s", f"{s['median_cyberins_per_second']:.1f}",
                     f"{s['median_bare_per_second']:.1f}", f"{s['ratio']:.2f}", ">= 0.8", mark(s["ratio"] >= 0.8)))
    if y := results.get("year"):
        rss, bare = y["worker_peak_rss_kib"], y["bare_peak_rss_kib"]
        rows.append((f"year, {y['distinct']:,} findings", f"{y['runs']} runs, longest {y['longest_history']:,} events",
                     "", "", f"<= {y['history_limit']:,}", mark(y["longest_history"] <= y["history_limit"])))
        rows.append(("", f"status {y['in_status']:,}, database {y['in_database']:,}", "", "", "exact",
                     mark(y["exact"])))
        if rss and bare:
            rows.append(("  worker peak RSS", f"{rss / 1024:.0f} MiB", f"{bare / 1024:.0f} MiB", f"{rss / bare:.1f}x",
                         "reported", ""))
    if c := results.get("cost"):
        if "measured" in c:
            now, base = c["measured"]["total"], c["baseline"]["total"]
            rows.append(("cost, policy year + claim",
                         f"{now['events']} events, {now['activities']}+{now['local_activities']} activities",
                         f"baseline {base['events']}, {base['activities']}+{base['local_activities']}", "",
                         "no more activities",
                         mark(c["passed"])))
        else:
            rows.append(("cost, policy year + claim", c["error"], "", "", "", "MISSED"))
    if lat := results.get("latency"):
        ours, bare = lat["cyberins"], lat["bare"]
        rows.append((f"API latency at {lat['rate_per_s']:g}/s, p50", f"{ours['p50_ms']:.0f} ms", f"{bare['p50_ms']:.0f} ms",
                     f"{lat['ratio_p50']:.1f}x", "reported", ""))
        errors = ours["client_errors"] + ours["server_errors"] + ours["no_answer"]
        rows.append(("  p99", f"{ours['p99_ms']:.0f} ms", f"{bare['p99_ms']:.0f} ms", f"{lat['ratio_p99']:.1f}x",
                     "0 errors", mark(errors == 0 and lat["passed"])))
    if d := results.get("delivery"):
        rows.extend(delivery_rows(d, mark))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def delivery_rows(d: dict[str, Any], mark) -> list[tuple[str, ...]]:
    ours, bare = d["steady"]["cyberins"], d["steady"]["bare"]
    lat, bare_lat = ours["latency_ms"], bare["latency_ms"]
    seconds, goal = d["median_seconds"], d["surge_goal_ratio"]

    def items(side: dict[str, Any]) -> str:
        return f"{side['delivered']:,}/{side['sent']:,}, lost {side['lost']}, twice {side['twice']}"

    def load(side: dict[str, Any]) -> str:
        return f"{side['load'][0]:.1f} -> {side['load'][1]:.1f}"

    def cpu(side: dict[str, Any], names: dict[str, str]) -> str:
        ms = side["cpu_ms_per_item"]
        parts = ", ".join(f"{label} {ms.get(name, 0):.0f}" for name, label in names.items())
        return f"{sum(ms.values()):.0f} ms ({parts})"

    bare_cpu = sum(bare["cpu_ms_per_item"].values()) or 1.0

    return [
        (f"delivery at {d['rate_per_s']:g}/s, p50", f"{lat['p50']:.0f} ms", f"{bare_lat['p50']:.0f} ms",
         f"{d['ratio_p50']:.1f}x", "reported", ""),
        ("  p99", f"{lat['p99']:.0f} ms (max {lat['max']:.0f})", f"{bare_lat['p99']:.0f} ms (max {bare_lat['max']:.0f})",
         f"{d['ratio_p99']:.1f}x", f"< {d['p99_goal_ms']:,} ms", mark(d["p99_met"])),
        ("  p99 after the decision", f"{ours['phases_ms']['from_decision']['p99']:.0f} ms", "", "", "reported", ""),
        ("  delivered", items(ours), items(bare), "", "exact", mark(ours["lost"] == 0 and ours["unsettled"] == 0)),
        ("  load average", load(ours), load(bare), "", "reported", ""),
        ("  CPU per item", cpu(ours, {"cyberins worker": "worker", "bench worker": "deciding", "Temporal": "Temporal",
                                      "PostgreSQL": "PostgreSQL"}),
         cpu(bare, {"bench worker": "worker", "Temporal": "Temporal"}), f"{sum(ours['cpu_ms_per_item'].values()) / bare_cpu:.1f}x",
         "reported", ""),
        (f"delivery surge, {d['surge_size']:,} at once, s", f"{seconds['dispatch_cyberins']:.1f}",
         f"{seconds['dispatch_bare']:.1f}", f"{d['dispatch_ratio']:.2f}x", f"<= {goal:g}x",
         mark(d["dispatch_ratio"] <= goal)),
        (f"{d['incidents']:,} incidents to last dispatch, s", f"{seconds['incident_cyberins']:.1f}",
         f"{seconds['incident_bare']:.1f}", f"{d['incident_ratio']:.2f}x", f"<= {goal:g}x",
         mark(d["incident_ratio"] <= goal)),
        ("  every run", f"lost {d['lost']}, twice {d['twice']}, unsettled {d['unsettled']}",
         f"bad signatures {d['rejected']}", "", "exact", mark(d["passed"])),
    ]


def counts_hold(results: dict[str, Any]) -> bool:
    """What must be exact whatever the machine: nothing lost, nothing twice, no errors, no cost growth."""
    checks = []
    if i := results.get("intake"):
        checks.append(i["lost"] == 0 and i["twice"] == 0)
    if y := results.get("year"):
        checks.append(y["passed"])
    if c := results.get("cost"):
        checks.append(c["passed"])
    if lat := results.get("latency"):
        checks.append(lat["passed"])
    if d := results.get("delivery"):
        checks.append(d["passed"])
    return all(checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="runs per benchmark; the table shows medians")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    parser.add_argument("--delivery-rate", type=float, default=None,
                        help="notifications a second in the delivery benchmark's steady phase (default 20)")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}")
    size = sizes(args.quick) | ({"repeats": args.repeats} if args.repeats else {})
    if args.delivery_rate:
        size["delivery_rate"] = args.delivery_rate
    began, started = datetime.now(UTC), time.monotonic()
    described = machine()
    print(f"machine: {described['nproc']} CPUs ({described['cpu_model']}), load average {described['load_average']}, "
          f"Python {described['python']}, {described['platform']}")
    results = asyncio.run(run(only, size))
    lines = table(results)
    print("\n" + "\n".join(lines))
    passed = counts_hold(results)
    document = {"began": began.isoformat(timespec="seconds"), "seconds": round(time.monotonic() - started, 1),
                "machine": described, "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "sizes": size, "results": results, "table": lines, "counts_hold": passed}
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"bench-{began.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nresults written to {path}")
    print("every count held" if passed else "FAILED: a count did not hold (see above)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
