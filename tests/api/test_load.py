"""A short, bounded load on the API (the 10-minute one is `make bench`): a vendor posts findings
batches and the insured and insurer read statuses at a fixed rate for 15 s (25 s under `make test-long`). No request fails, and
every finding the API accepted is in its policy's status and in PostgreSQL exactly once."""

from __future__ import annotations

from bench.api_load import measure
from bench.report import print_report
from bench.stack import Stack
from tests.scale import sized

DURATION_S = sized(15, 25)
RATE_PER_S = 10  # well within what 2 shared cores serve, so a failure means a fault, not overload


async def test_a_steady_load_fails_nothing_and_every_accepted_finding_is_counted_once(api_stack):
    stack = Stack(api_stack.base_url, api_stack.sessions, api_stack.temporal, api_stack.logs)

    report = await measure(stack, duration=DURATION_S, rate=RATE_PER_S, policies=4)

    lines: list[str] = []
    print_report(report, out=lines.append)
    summary = "\n".join(lines)
    print(summary)
    overall = report.overall
    assert overall.server_errors == 0 and overall.client_errors == 0 and overall.no_answer == 0, summary
    assert not report.mismatches and report.unmarked_replays == 0, summary
    assert report.findings["accepted"] > 0 and report.findings["maybe"] == 0, summary
    assert report.requests >= DURATION_S * RATE_PER_S * 0.95, summary
