"""What a load run measured: latency and throughput per kind of request, the effects counted, and the
machine it ran on; printed as a table and kept as JSON."""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def cpu_seconds(components: dict[str, Callable[[int, str], bool]]) -> dict[str, float]:
    """CPU time so far (user and system, with that of reaped children) of the processes each component
    recognises, by its pid and command line, in the process or in its nearest ancestor recognised: a
    PostgreSQL server with its backends, a worker with whatever it started. Linux only (zeros elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    processes: dict[int, tuple[int, str, float]] = {}  # pid -> parent, command line, seconds
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()
        processes[int(entry.name)] = (int(fields[1]), command, sum(int(f) for f in fields[11:15]) / ticks)
    totals = dict.fromkeys(components, 0.0)
    for pid, (_, _, seconds) in processes.items():
        ancestor = pid
        while ancestor in processes:
            parent, command, _ = processes[ancestor]
            name = next((name for name, recognise in components.items() if recognise(ancestor, command)), None)
            if name is not None:
                totals[name] += seconds
                break
            ancestor = parent
    return totals


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(math.ceil(share * len(sorted_values)) - 1, 0)]


def spread(values_ms: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of some milliseconds (nearest rank); NaN when there are none."""
    ordered = sorted(values_ms)
    return {"p50": round(percentile(ordered, 0.50), 1), "p90": round(percentile(ordered, 0.90), 1),
            "p99": round(percentile(ordered, 0.99), 1), "max": round(ordered[-1], 1) if ordered else math.nan,
            "count": len(ordered)}


@dataclass
class KindStats:
    requests: int
    ok: int  # 2xx
    client_errors: int  # 4xx
    server_errors: int  # 5xx
    no_answer: int
    statuses: dict[int, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LoadReport:
    config: dict[str, Any]
    machine: dict[str, Any]
    began: str
    elapsed_s: float
    requests: int
    not_started: int
    unmarked_replays: int
    throughput_per_s: float
    max_start_lag_ms: float
    overall: KindStats
    by_kind: dict[str, KindStats]
    effects: dict[str, dict[str, int]]  # policy → accepted, maybe, status, database
    findings: dict[str, int]

    @classmethod
    def of(cls, samples, effects, *, config, began: datetime, elapsed: float, not_started: int,
           unmarked_replays: int, machine: dict[str, Any]) -> LoadReport:
        groups: dict[str, list] = defaultdict(list)
        for sample in samples:
            groups[sample.kind].append(sample)
        answered = [s for s in samples if s.status]
        totals = {key: sum(row[key] for row in effects.values()) for key in ("accepted", "maybe", "status", "database")}
        return cls(
            config=config, machine=machine, began=began.isoformat(timespec="seconds"), elapsed_s=round(elapsed, 2),
            requests=len(samples), not_started=not_started, unmarked_replays=unmarked_replays,
            throughput_per_s=round(len(answered) / elapsed, 2) if elapsed else 0.0,
            max_start_lag_ms=round(max((s.lag for s in samples), default=0.0) * 1000, 1),
            overall=stats(samples), by_kind={kind: stats(group) for kind, group in sorted(groups.items())},
            effects=effects, findings=totals,
        )

    @property
    def mismatches(self) -> dict[str, dict[str, int]]:
        """Policies whose accepted findings are not exactly what the workflow and the database hold."""
        return {p: row for p, row in self.effects.items() if not row["accepted"] == row["status"] == row["database"]}

    @property
    def passed(self) -> bool:
        overall = self.overall
        return (overall.server_errors == 0 and overall.client_errors == 0 and overall.no_answer == 0
                and not self.mismatches and self.unmarked_replays == 0)


def stats(samples) -> KindStats:
    latencies = sorted(s.seconds * 1000 for s in samples if s.status)
    return KindStats(
        requests=len(samples),
        ok=sum(200 <= s.status < 300 for s in samples),
        client_errors=sum(400 <= s.status < 500 for s in samples),
        server_errors=sum(s.status >= 500 for s in samples),
        no_answer=sum(s.status == 0 for s in samples),
        statuses=dict(sorted(Counter(s.status for s in samples).items())),
        p50_ms=round(percentile(latencies, 0.50), 1), p90_ms=round(percentile(latencies, 0.90), 1),
        p99_ms=round(percentile(latencies, 0.99), 1), max_ms=round(latencies[-1], 1) if latencies else math.nan,
    )


def print_report(report: LoadReport, out=print) -> None:
    m, c = report.machine, report.config
    out(f"\nmachine: {m['nproc']} CPUs ({m['cpu_model']}), load average {m['load_average']}, Python {m['python']}")
    out(f"load: {c['rate_per_s']:g} requests/s target for {c['duration_s']:g} s over {c['policies']} policies, "
        f"seed {c['seed']}; {report.requests} requests in {report.elapsed_s:g} s, "
        f"{report.throughput_per_s:g} answered/s; latest start {report.max_start_lag_ms:g} ms behind schedule"
        + (f"; {report.not_started} not started (client limit)" if report.not_started else ""))
    header = (f"{'request':<22}{'count':>8}{'2xx':>8}{'4xx':>6}{'5xx':>6}{'none':>6}"
              f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    out(header)
    out("-" * len(header))
    for kind, s in [*report.by_kind.items(), ("all", report.overall)]:
        out(f"{kind:<22}{s.requests:>8}{s.ok:>8}{s.client_errors:>6}{s.server_errors:>6}{s.no_answer:>6}"
            f"{s.p50_ms:>9.1f}{s.p90_ms:>9.1f}{s.p99_ms:>9.1f}{s.max_ms:>9.1f}")
    errors = {status: n for status, n in report.overall.statuses.items() if not 200 <= status < 300}
    if errors:
        out(f"answers other than 2xx (0: none): {errors}")
    f = report.findings
    out(f"findings accepted by the API {f['accepted']}, in the policies' status {f['status']}, "
        f"in PostgreSQL {f['database']}" + (f" (and {f['maybe']} sent without an answer)" if f["maybe"] else ""))
    if report.unmarked_replays:
        out(f"{report.unmarked_replays} replayed webhook-ids answered without Idempotent-Replayed: true")
    for policy, row in report.mismatches.items():
        out(f"  MISMATCH {policy}: {row}")
    out("PASSED: no errors, every accepted finding counted once" if report.passed else "FAILED")


def write_report(report: LoadReport, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report.began.replace(":", "").replace("-", "")[:15]
    path = folder / f"api-load-{stamp}.json"
    document = _without_nan({**asdict(report), "passed": report.passed})
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def _without_nan(value: Any) -> Any:
    """JSON has no NaN: a percentile of no answers is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    return value
