"""Platform qualifications (docs/domain.md, "Platform qualification by insurance"): applications, their timeline, intent forms and proofs,
all on the audit trail. Outbox notifications may now concern a qualification rather than a policy.

Written by hand, like the others; a test compares this schema with the models.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AUDITED_TABLES: dict[str, tuple[str, ...]] = {
    "qualifications": ("qualification_id",),
    "qualification_events": ("id",),
    "intent_forms": ("intent_id",),
    "qualification_proofs": ("id",),
}
TRIGGERS = (
    ("audit_trail_insert", "INSERT", "NEW TABLE AS changed_rows"),
    ("audit_trail_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS changed_rows"),
    ("audit_trail_delete", "DELETE", "OLD TABLE AS changed_rows"),
)


def _qualification_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["qualification_id"], ["qualifications.qualification_id"], name=f"fk_{table}_qualification_id_qualifications"
    )


def upgrade() -> None:
    op.create_table(
        "qualifications",
        sa.Column("qualification_id", sa.String(128), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("unified_social_credit_code", sa.String(18), nullable=False),
        sa.Column("proof_path", sa.String(32), nullable=False),
        sa.Column("insurer_id", sa.String(64), nullable=True),
        sa.Column("existing_provider", sa.Boolean(), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=True),
        sa.Column("qualified_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("qualification_id", name="pk_qualifications"),
    )
    op.create_index("ix_qualifications_provider_id", "qualifications", ["provider_id"])
    op.create_table(
        "qualification_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("qualification_id", sa.String(128), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("details", JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_qualification_events"),
        _qualification_fk("qualification_events"),
        sa.UniqueConstraint(
            "qualification_id", "event_key", name="uq_qualification_events_qualification_id_event_key"
        ),
    )
    op.create_table(
        "intent_forms",
        sa.Column("intent_id", sa.String(128), nullable=False),
        sa.Column("qualification_id", sa.String(128), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("unified_social_credit_code", sa.String(18), nullable=False),
        sa.Column("insurer_id", sa.String(64), nullable=True),
        sa.Column("requested_limit_fen", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("intent_id", name="pk_intent_forms"),
        _qualification_fk("intent_forms"),
        sa.UniqueConstraint("qualification_id", name="uq_intent_forms_qualification_id"),
    )
    op.create_table(
        "qualification_proofs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("qualification_id", sa.String(128), nullable=False),
        sa.Column("submission", sa.Integer(), nullable=False),
        sa.Column("proof_path", sa.String(32), nullable=False),
        sa.Column("proofs", JSONB(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("problems", JSONB(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_qualification_proofs"),
        _qualification_fk("qualification_proofs"),
        sa.UniqueConstraint(
            "qualification_id", "submission", name="uq_qualification_proofs_qualification_id_submission"
        ),
    )
    op.alter_column("notification_outbox", "policy_id", existing_type=sa.String(128), nullable=True)
    op.add_column("notification_outbox", sa.Column("qualification_id", sa.String(128), nullable=True))

    for table, key_columns in AUDITED_TABLES.items():
        arguments = ", ".join(f"'{column}'" for column in key_columns)
        for trigger, event, transition_tables in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON {table} REFERENCING {transition_tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_record_changes({arguments})"
            )


def downgrade() -> None:
    op.execute("DELETE FROM notification_outbox WHERE policy_id IS NULL")
    op.drop_column("notification_outbox", "qualification_id")
    op.alter_column("notification_outbox", "policy_id", existing_type=sa.String(128), nullable=False)
    for table in reversed(list(AUDITED_TABLES)):
        op.drop_table(table)
