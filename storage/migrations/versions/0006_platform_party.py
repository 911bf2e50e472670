"""The open platform's operations team becomes a party of the API, and qualifications objects it
grants access to. The pilot programme's reporting deadlines, schemes and healthcare applications
get tables, on the audit trail.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PARTY_KINDS = "'insured', 'vendor', 'insurer', 'platform'"
OBJECT_KINDS = "'policy', 'incident', 'claim', 'qualification'"
EARLIER_PARTY_KINDS = "'insured', 'vendor', 'insurer'"
EARLIER_OBJECT_KINDS = "'policy', 'incident', 'claim'"


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, condition)


AUDITED_TABLES = {
    "pilot_deadlines": "deadline_key", "pilot_schemes": "scheme_id", "healthcare_applications": "application_id",
}
TRIGGERS = (
    ("audit_trail_insert", "INSERT", "NEW TABLE AS changed_rows"),
    ("audit_trail_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS changed_rows"),
    ("audit_trail_delete", "DELETE", "OLD TABLE AS changed_rows"),
)


def upgrade() -> None:
    op.create_table(
        "pilot_deadlines",
        sa.Column("deadline_key", sa.String(96), nullable=False),
        sa.Column("programme", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_reference", sa.String(128), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deadline_key", name="pk_pilot_deadlines"),
    )
    op.create_table(
        "pilot_schemes",
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column("programme", sa.String(16), nullable=False),
        sa.Column("lead_credit_code", sa.String(18), nullable=False),
        sa.Column("joint_units", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("document", JSONB(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scheme_id", name="pk_pilot_schemes"),
    )
    op.create_index("ix_pilot_schemes_lead_credit_code", "pilot_schemes", ["lead_credit_code"])
    op.create_table(
        "healthcare_applications",
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("applicant_credit_code", sa.String(18), nullable=False),
        sa.Column("document", JSONB(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_healthcare_applications"),
    )
    op.create_index(
        "ix_healthcare_applications_applicant_credit_code", "healthcare_applications", ["applicant_credit_code"]
    )
    for table, key in AUDITED_TABLES.items():
        for trigger, event, transition_tables in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON {table} REFERENCING {transition_tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_record_changes('{key}')"
            )
    _replace_check("api_keys", "ck_api_keys_party_kind", f"party_kind IN ({PARTY_KINDS})")
    _replace_check("api_grants", "ck_api_grants_party_kind", f"party_kind IN ({PARTY_KINDS})")
    _replace_check("api_grants", "ck_api_grants_object_kind", f"object_kind IN ({OBJECT_KINDS})")


def downgrade() -> None:
    for table in AUDITED_TABLES:
        op.drop_table(table)
    op.execute("DELETE FROM api_grants WHERE party_kind = 'platform' OR object_kind = 'qualification'")
    op.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE party_kind = 'platform'")
    op.execute("DELETE FROM api_keys WHERE party_kind = 'platform'")
    _replace_check("api_keys", "ck_api_keys_party_kind", f"party_kind IN ({EARLIER_PARTY_KINDS})")
    _replace_check("api_grants", "ck_api_grants_party_kind", f"party_kind IN ({EARLIER_PARTY_KINDS})")
    _replace_check("api_grants", "ck_api_grants_object_kind", f"object_kind IN ({EARLIER_OBJECT_KINDS})")
