"""A qualification's service levels and refused proofs read as words in `qualification show`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rich.console import Console

from cli.status_view import status_table
from contracts.qualification import ContactDue, QualificationStatus
from domain.qualification import ProofPath, ProofProblem, QualificationPhase

CST = timezone(timedelta(hours=8))


def rendered(status: QualificationStatus) -> str:
    console = Console(width=200, record=True)
    console.print(status_table(status, title="q"))
    return console.export_text()


def test_service_levels_and_problems_are_shown_in_beijing_time_and_words():
    status = QualificationStatus(
        qualification_id="qual-1", provider_id="prov-1", proof_path=ProofPath.CYBER_LIABILITY_POLICY,
        phase=QualificationPhase.AWAITING_PROOFS, applied_at=datetime(2026, 11, 20, 1, tzinfo=timezone.utc),
        platform_contact=ContactDue(due=datetime(2026, 11, 23, 16, tzinfo=timezone.utc), reminded=True, escalated=True,
                                    done_at=datetime(2026, 11, 24, 2, tzinfo=timezone.utc)),
        intent_id="intent-1",
        insurer_contact=ContactDue(due=datetime(2027, 1, 5, tzinfo=CST), provisional=True, reminded=True),
        submissions=1, last_problems=[ProofProblem(code="policy_not_found", message="no policy numbered X")],
        policy_number=None, qualified_until=None, suspended_reason=None, closing_reason=None,
    )
    text = rendered(status)
    assert "due 2026-11-24T00:00+08:00; done 2026-11-24T02:00+00:00 (late)" in text
    assert "due 2027-01-05T00:00+08:00 (provisional: the holiday calendar of that year is not loaded); reminded" in text
    assert "policy_not_found: no policy numbered X" in text
    assert "datetime.datetime" not in text and "ContactDue" not in text
