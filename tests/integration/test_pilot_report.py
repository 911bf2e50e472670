"""The pilot report from a seeded portfolio: two policies in two industries, monitoring findings with
one fixed, a ransomware incident reported on time and paid, a second incident whose report to the
authorities is overdue. The portfolio is made by the real workflows, so the report reads what the
service really writes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from contracts.policy import FindingResolutionRequest, FixVerification, MonitoringBatch
from domain.coverage import Industry
from domain.findings import Resolution, Severity
from domain.incident import IncidentCategory, IncidentGrade
from reports.pilot import write_report, yuan
from reports.pilot_figures import gather
from tests.builders import application, assessment, monitoring_finding, organisation
from tests.workflows.post_cover import incident_report, report_incident
from tests.workflows.support import bind, eventually, running_worker, scalar, start_policy
from tests.workflows.test_ransomware_claim import ransomware_story
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

REPO = Path(__file__).resolve().parents[2]
HOSPITAL_USCC = "91110000M00000000W"
PERIOD = (datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc))


async def seed_portfolio(env, session_factory, task_queue) -> dict:
    """The portfolio, and what the workflows themselves say about it."""
    manufacturer, _, _ = await ransomware_story(env, session_factory, task_queue)
    client = env.client
    async with running_worker(client, session_factory, task_queue):
        hospital_app = application(organisation=organisation(
            name="Test Hospital", unified_social_credit_code=HOSPITAL_USCC, industry=Industry.HEALTHCARE,
        ))
        hospital = await start_policy(client, task_queue, app=hospital_app)
        bound = await bind(hospital, assessment())
        findings = [monitoring_finding("f-crit", Severity.CRITICAL), monitoring_finding("f-high", Severity.HIGH),
                    monitoring_finding("f-low", Severity.LOW)]
        await hospital.signal(PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=findings))
        await eventually(hospital, lambda s: s.findings.total == 3)
        await hospital.execute_update(
            PolicyWorkflow.resolve_finding, FindingResolutionRequest(vendor_event_id="f-high", resolution=Resolution.FIXED)
        )
        await hospital.execute_update(
            PolicyWorkflow.verify_fix, FixVerification(vendor_id="vendor-a", vendor_event_id="f-high", fix_confirmed=True)
        )
        discovered = bound.term_start + timedelta(days=5)
        await env.sleep(timedelta(days=5))
        late = await report_incident(client, task_queue, incident_report(
            hospital.id.removeprefix("policy-"), discovered, grade=IncidentGrade.SIGNIFICANT,
            category=IncidentCategory.DATA_SECURITY, reference="his-leak",
        ))
        await env.sleep(timedelta(hours=6))  # past the 4-hour clock, nothing filed
        await eventually(late, lambda s: s.report_overdue, query=IncidentWorkflow.status)
        # The first worker is gone, and the time-skipping server does not hand the earlier policy's
        # queries to this one: its premium comes from its row.
        manufacturer_fen = await scalar(session_factory, "SELECT annual_premium_fen FROM policies WHERE policy_id = :p",
                                        p=manufacturer.id.removeprefix("policy-"))
        return {"premiums": [manufacturer_fen, bound.premium_charged.fen]}


async def test_the_report_counts_what_the_workflows_recorded(time_skipping_env, session_factory, task_queue, tmp_path):
    seeded = await seed_portfolio(time_skipping_env, session_factory, task_queue)
    from domain.pilot import Direction
    from pilot.submissions import submit_scheme
    from tests.domain.test_pilot import INSURER, scheme, unit

    for n, direction in enumerate([Direction.INDUSTRIAL_INTERNET, Direction.INDUSTRIAL_INTERNET,
                                   Direction.CONNECTED_VEHICLES]):
        submitted = await submit_scheme(session_factory, scheme([INSURER, unit(30 + n)], lead=unit(40 + n % 2))
                                        .model_copy(update={"scheme_id": f"s-{n}", "direction": direction}))
        assert submitted.stored
    figures = await gather(session_factory, *PERIOD)
    tables = figures.tables
    assert tables["schemes"].rows == [("national", "connected_vehicles", 1, 1, 2),
                                      ("national", "industrial_internet", 2, 2, 4)]

    policies = {row[0]: row for row in tables["policies"].rows}
    assert set(policies) == {"industrial_internet", "healthcare"}
    assert sum(row[2] for row in policies.values()) == 2
    assert sum(row[4] for row in policies.values()) == sum(seeded["premiums"])
    assert policies["healthcare"][4] == seeded["premiums"][1]
    assert tables["assessments"].rows == [("vendor-a", 2)]

    findings = {row[0]: row[1:] for row in tables["findings"].rows}
    assert findings == {
        "critical": (1, 0, 0, 1, 0, 0.0), "high": (1, 1, 0, 0, 0, 100.0), "low": (1, 0, 0, 1, 0, 0.0)
    }
    incidents = {(row[0], row[1]): row[2:] for row in tables["incidents"].rows}
    assert incidents == {("significant", "malicious_program"): (1, 1), ("significant", "data_security"): (1, 1)}
    assert tables["regulatory_reports"].rows == [(2, 1, 0, 1, 0)]
    (response,) = tables["emergency_response"].rows
    assert response[0] == 2 and response[1] >= 1 and response[4] == 1  # dispatched, acknowledged, forensics
    assert tables["claims"].rows == [("closed", 1)]
    assert tables["payouts"].rows == [("CNY", 1, 1, 38_000_000)]

    written = write_report(figures, tmp_path, title="Pilot summary")
    markdown = (tmp_path / "report.md").read_text()
    assert "- Paid on claims: ¥380,000.00" in markdown
    assert "- Monitoring findings: 3, fixed 1 (33.3%)" in markdown
    assert "on time 1, late 0, overdue and not filed 1" in markdown
    assert "| healthcare | enterprise | 1 | CNY |" in markdown
    with (tmp_path / "payouts.csv").open() as payouts:
        assert list(csv.reader(payouts)) == [["currency", "payouts", "claims_paid", "paid_fen"], ["CNY", "1", "1", "38000000"]]
    charts = [path for path in written if path.suffix == ".svg"]
    assert len(charts) == 3
    for chart in charts:
        root = ElementTree.parse(chart).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    labels = [t.text for t in ElementTree.parse(tmp_path / "incidents_by_category.svg").getroot()
              if t.tag.endswith("text")]
    assert {"data security", "malicious program"} <= set(labels)


async def test_an_empty_period_gives_a_report_that_says_so(session_factory, tmp_path):
    figures = await gather(session_factory, *PERIOD)
    write_report(figures, tmp_path, title="Nothing yet")
    markdown = (tmp_path / "report.md").read_text()
    assert "- Policies bound: 0, premium ¥0.00" in markdown and "Nothing in this period." in markdown
    assert "nothing in this period" in (tmp_path / "premium_by_industry.svg").read_text()


def test_yuan_is_exact_to_the_fen():
    assert yuan(38_000_001) == "¥380,000.01" and yuan(-5) == "-¥0.05" and yuan(100, "USD") == "USD 1.00"


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYBERINS_")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "report", "pilot", *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )


def test_the_command_writes_the_report_folder(database_url, tmp_path):
    done = cli("--from", "2026-01-01", "--to", "2026-12-31", "--out", str(tmp_path / "r"), database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "r").iterdir()} >= {"report.md", "policies.csv", "premium_by_industry.svg"}
    assert "Period: 2026-01-01 to 2027-01-01 (end exclusive)" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--from", "2026-13-01", "--to", "2026-12-31"), "--from must be a date as YYYY-MM-DD"),
        (("--from", "2026-02-01", "--to", "2026-01-31"), "--to is before --from"),
    ],
)
def test_bad_dates_are_refused_saying_which(database_url, tmp_path, args, says):
    done = cli(*args, "--out", str(tmp_path / "r"), database_url=database_url)
    assert done.returncode == 2 and says in done.stderr
    assert not (tmp_path / "r").exists()
