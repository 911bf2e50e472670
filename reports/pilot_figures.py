"""The figures of a pilot progress or annual summary report (docs/domain.md, "The pilot programme"), read from PostgreSQL.

Each section is one SQL query over a period: policies by the day their term starts, assessments,
findings and incidents by the day they were received, claims by the day they were opened and
payouts by the day they were paid. Amounts stay integer fen, per currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class Table:
    """One section: named columns and rows of plain values, ready for Markdown and CSV."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class PilotFigures:
    period_start: datetime
    period_end: datetime
    tables: dict[str, Table]


QUERIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "policies": (
        "Policies bound, by industry and class",
        ("industry", "policy_class", "policies", "currency", "premium_fen", "aggregate_limit_fen"),
        """
        SELECT o.industry, coalesce(a.application->>'policy_class', 'enterprise'), count(*), p.currency,
               sum(p.annual_premium_fen), sum((p.schedule->'aggregate_limit'->>'fen')::bigint)
        FROM policies p
        JOIN applications a ON a.policy_id = p.policy_id
        JOIN organisations o ON o.id = a.organisation_id
        WHERE p.term_start >= :start AND p.term_start < :end
        GROUP BY 1, 2, 4 ORDER BY 1, 2, 4
        """,
    ),
    "assessments": (
        "Risk assessments before cover, by vendor",
        ("vendor", "assessments"),
        """
        SELECT vendor_id, count(*) FROM assessments
        WHERE received_at >= :start AND received_at < :end GROUP BY 1 ORDER BY 1
        """,
    ),
    "findings": (
        "Monitoring findings and their remediation, by severity",
        ("severity", "findings", "fixed", "other_closed", "open", "overdue", "remediation_rate_pct"),
        """
        SELECT severity, count(*),
               count(*) FILTER (WHERE status = 'fixed'),
               count(*) FILTER (WHERE status IN ('accepted_risk', 'third_party_risk', 'false_positive')),
               count(*) FILTER (WHERE status IN ('open', 'awaiting_verification')),
               count(*) FILTER (WHERE overdue_at IS NOT NULL),
               round(100.0 * count(*) FILTER (WHERE status = 'fixed') / count(*), 1)
        FROM findings WHERE received_at >= :start AND received_at < :end
        GROUP BY 1 ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low', 'info'], severity::text)
        """,
    ),
    "incidents": (
        "Incidents, by grade and category",
        ("grade", "category", "incidents", "covered"),
        """
        SELECT grade, category, count(*), count(*) FILTER (WHERE in_force)
        FROM incidents WHERE received_at >= :start AND received_at < :end
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    ),
    "regulatory_reports": (
        "Reports to the authorities: on time and late",
        ("due", "filed_on_time", "filed_late", "not_filed_overdue", "pending"),
        """
        WITH due AS (
            SELECT i.incident_id,
                   bool_or(e.kind = 'regulatory_report_filed') AS filed,
                   bool_or(e.kind = 'regulatory_report_overdue') AS overdue
            FROM incidents i JOIN incident_events e ON e.incident_id = i.incident_id
            WHERE i.received_at >= :start AND i.received_at < :end
            GROUP BY i.incident_id
            HAVING bool_or(e.kind = 'regulatory_report_due')
        )
        SELECT count(*), count(*) FILTER (WHERE filed AND NOT overdue), count(*) FILTER (WHERE filed AND overdue),
               count(*) FILTER (WHERE overdue AND NOT filed), count(*) FILTER (WHERE NOT filed AND NOT overdue)
        FROM due
        """,
    ),
    "emergency_response": (
        "Emergency response and forensics",
        ("incidents_dispatched", "acknowledged", "escalated", "no_panel_vendor", "forensics_reports"),
        """
        SELECT count(DISTINCT e.incident_id) FILTER (WHERE e.kind = 'vendor_dispatched'),
               count(DISTINCT e.incident_id) FILTER (WHERE e.kind = 'vendor_acknowledged'),
               count(DISTINCT e.incident_id) FILTER (WHERE e.kind = 'dispatch_escalated'),
               count(DISTINCT e.incident_id) FILTER (WHERE e.kind = 'no_panel_vendor'),
               (SELECT count(*) FROM forensics_reports f JOIN incidents j ON j.incident_id = f.incident_id
                WHERE j.received_at >= :start AND j.received_at < :end)
        FROM incidents i LEFT JOIN incident_events e ON e.incident_id = i.incident_id
        WHERE i.received_at >= :start AND i.received_at < :end
        """,
    ),
    "claims": (
        "Claims, by phase",
        ("phase", "claims"),
        """
        SELECT phase, count(*) FROM claims WHERE opened_at >= :start AND opened_at < :end GROUP BY 1 ORDER BY 1
        """,
    ),
    "payouts": (
        "Payouts",
        ("currency", "payouts", "claims_paid", "paid_fen"),
        """
        SELECT currency, count(*), count(DISTINCT claim_id), sum(amount_fen)
        FROM payouts WHERE paid_at >= :start AND paid_at < :end GROUP BY 1 ORDER BY 1
        """,
    ),
    "schemes": (
        "Pilot service schemes submitted, by programme and direction",
        ("programme", "direction", "schemes", "lead_units", "joint_units"),
        """
        SELECT programme, direction, count(*), count(DISTINCT lead_credit_code), sum(joint_units)
        FROM pilot_schemes WHERE submitted_at >= :start AND submitted_at < :end
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    ),
    "qualifications": (
        "Platform qualifications by insurance, by phase and proof",
        ("phase", "proof_path", "providers"),
        """
        SELECT phase, proof_path, count(*) FROM qualifications
        WHERE applied_at < :end GROUP BY 1, 2 ORDER BY 1, 2
        """,
    ),
}


async def gather(sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime) -> PilotFigures:
    """Every section for [start, end), in one read-only transaction so the sections agree."""
    if end <= start:
        raise ValueError("the period ends before it starts")
    tables: dict[str, Table] = {}
    async with sessions() as session, session.begin():
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        for name, (title, columns, sql) in QUERIES.items():
            result = await session.execute(text(sql), {"start": start, "end": end})
            rows = [tuple(_plain(value) for value in row) for row in result]
            tables[name] = Table(name, title, columns, rows)
    return PilotFigures(start, end, tables)


def _plain(value):
    """PostgreSQL's sum() of bigint is numeric: whole numbers (fen, counts) come back as int, never
    through a float; only the one-decimal percentages are floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    return value
