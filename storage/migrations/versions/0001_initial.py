"""The initial schema: pre-cover records, bound terms, monitoring findings, the outbox.

Written by hand so that what runs in production is what was reviewed. Constraint names follow
storage.models.base.NAMING_CONVENTION; a test compares this schema with the models.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False, **kwargs) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kwargs)


def _text(name: str, length: int | None = None, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _fen(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _int(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False)


def _json(name: str) -> sa.Column:
    return sa.Column(name, JSONB(), nullable=False)


def upgrade() -> None:
    _create_pre_cover_tables()
    _create_policy_tables()
    _create_monitoring_tables()
    _create_outbox()


def _create_pre_cover_tables() -> None:
    op.create_table(
        "organisations",
        _id(),
        _text("unified_social_credit_code", 18),
        _text("name", 200),
        _text("industry", 32),
        _text("revenue_band", 32),
        sa.Column("operates_critical_infrastructure", sa.Boolean(), nullable=False),
        sa.Column("is_state_organ", sa.Boolean(), nullable=False),
        _at("last_applied_at"),
        _at("updated_at", server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("unified_social_credit_code", name="uq_organisations_unified_social_credit_code"),
    )
    op.create_table(
        "applications",
        _text("policy_id", 128),
        sa.Column("organisation_id", sa.BigInteger(), nullable=False),
        _json("application"),
        _at("received_at"),
        sa.PrimaryKeyConstraint("policy_id", name="pk_applications"),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="fk_applications_organisation_id_organisations"
        ),
    )
    op.create_index("ix_applications_organisation_id", "applications", ["organisation_id"])
    op.create_table(
        "assessments",
        _id(),
        _text("policy_id", 128),
        _int("term_number"),
        _text("vendor_id", 64),
        _json("report"),
        _at("received_at"),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.UniqueConstraint("policy_id", "term_number", name="uq_assessments_policy_id_term_number"),
    )
    op.create_table(
        "underwriting_decisions",
        _id(),
        _text("policy_id", 128),
        _int("term_number"),
        _text("stage", 32),
        _int("risk_score"),
        _text("decision", 16),
        _fen("premium_fen"),
        _text("currency", 3),
        _json("reasons"),
        _json("result"),
        _text("underwriter_id", 64, nullable=True),
        _at("decided_at"),
        sa.PrimaryKeyConstraint("id", name="pk_underwriting_decisions"),
        sa.UniqueConstraint(
            "policy_id", "term_number", "stage", name="uq_underwriting_decisions_policy_id_term_number_stage"
        ),
    )
    op.create_table(
        "quotes",
        _text("quote_id", 128),
        _text("policy_id", 128),
        _int("term_number"),
        _fen("premium_fen"),
        _text("currency", 3),
        _text("status", 16),
        _at("issued_at"),
        _at("expires_at"),
        _at("status_changed_at"),
        _json("quote"),
        sa.PrimaryKeyConstraint("quote_id", name="pk_quotes"),
        sa.CheckConstraint("status IN ('issued', 'accepted', 'expired')", name="ck_quotes_status"),
    )
    op.create_index("ix_quotes_policy_id", "quotes", ["policy_id"])


def _create_policy_tables() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("policy_number_seq")))
    op.create_table(
        "policies",
        _text("policy_id", 128),
        _int("term_number"),
        _text("policy_number", 32),
        _text("quote_id", 128),
        _text("phase", 32),
        _at("term_start"),
        _at("term_end"),
        _fen("annual_premium_fen"),
        _text("currency", 3),
        _int("risk_score"),
        _json("schedule"),
        _at("updated_at", server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("policy_id", "term_number", name="pk_policies"),
        sa.UniqueConstraint("policy_number", "term_number", name="uq_policies_policy_number_term_number"),
    )
    op.create_table(
        "coverage_heads",
        _text("policy_id", 128),
        _int("term_number"),
        _text("head", 48),
        _fen("sublimit_fen"),
        _fen("retention_fen"),
        _text("currency", 3),
        _int("coinsurance_bps"),
        sa.PrimaryKeyConstraint("policy_id", "term_number", "head", name="pk_coverage_heads"),
        sa.ForeignKeyConstraint(
            ["policy_id", "term_number"],
            ["policies.policy_id", "policies.term_number"],
            name="fk_coverage_heads_policy_id_policies",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "endorsements",
        _id(),
        _text("policy_id", 128),
        _text("request_id", 128),
        _text("policy_number", 32),
        _int("term_number"),
        _text("head", 48),
        _fen("previous_sublimit_fen"),
        _fen("new_sublimit_fen"),
        _fen("additional_premium_fen"),
        _fen("return_premium_fen"),
        _text("currency", 3),
        _at("effective_at"),
        sa.PrimaryKeyConstraint("id", name="pk_endorsements"),
        sa.UniqueConstraint("policy_id", "request_id", name="uq_endorsements_policy_id_request_id"),
    )
    op.create_table(
        "cancellations",
        _id(),
        _text("policy_id", 128),
        _int("term_number"),
        _text("policy_number", 32),
        _text("cancelled_by", 16),
        _text("reason"),
        _at("effective_at"),
        _fen("return_premium_fen"),
        _text("currency", 3),
        sa.PrimaryKeyConstraint("id", name="pk_cancellations"),
        sa.UniqueConstraint("policy_id", "term_number", name="uq_cancellations_policy_id_term_number"),
    )
    op.create_table(
        "policy_phase_history",
        _id(),
        _text("policy_id", 128),
        _int("term_number"),
        _text("phase", 32),
        _text("reason", nullable=True),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_phase_history"),
        sa.UniqueConstraint(
            "policy_id", "term_number", "phase", name="uq_policy_phase_history_policy_id_term_number_phase"
        ),
    )


def _create_monitoring_tables() -> None:
    statuses = (
        "'open', 'awaiting_verification', 'fixed', 'accepted_risk', 'third_party_risk', 'false_positive'"
    )
    op.create_table(
        "findings",
        _id(),
        _text("policy_id", 128),
        _int("term_number"),
        _text("vendor_event_id", 128),
        _text("kind", 32),
        _text("severity", 16),
        _text("asset", 255),
        _text("title", 500),
        _at("observed_at"),
        _at("received_at"),
        _at("deadline_at", nullable=True),
        _at("remind_at", nullable=True),
        _at("reminded_at", nullable=True),
        _at("overdue_at", nullable=True),
        _int("overdue_term", nullable=True),
        _text("status", 32),
        sa.Column("active_compromise", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.UniqueConstraint("policy_id", "vendor_event_id", name="uq_findings_policy_id_vendor_event_id"),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_findings_status"),
    )
    op.create_index("ix_findings_policy_id_status", "findings", ["policy_id", "status"])
    op.create_table(
        "finding_resolutions",
        _id(),
        sa.Column("finding_id", sa.BigInteger(), nullable=False),
        _int("sequence"),
        _text("from_status", 32),
        _text("to_status", 32),
        _text("resolution", 32, nullable=True),
        sa.Column("fix_confirmed", sa.Boolean(), nullable=True),
        _text("actor", 16),
        _text("vendor_id", 64, nullable=True),
        _text("note", nullable=True),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_finding_resolutions"),
        sa.UniqueConstraint("finding_id", "sequence", name="uq_finding_resolutions_finding_id_sequence"),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_finding_resolutions_finding_id_findings",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "incident_escalations",
        _id(),
        _text("policy_id", 128),
        _text("vendor_event_id", 128),
        sa.Column("finding_id", sa.BigInteger(), nullable=False),
        _text("asset", 255),
        _at("detected_at"),
        sa.Column("status", sa.String(32), server_default="awaiting_incident_workflow", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_escalations"),
        sa.UniqueConstraint(
            "policy_id", "vendor_event_id", name="uq_incident_escalations_policy_id_vendor_event_id"
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_incident_escalations_finding_id_findings",
            ondelete="CASCADE",
        ),
    )


def _create_outbox() -> None:
    op.create_table(
        "notification_outbox",
        _id(),
        _text("dedupe_key", 300),
        _text("policy_id", 128),
        _text("recipient", 16),
        _text("recipient_id", 128, nullable=True),
        _text("kind", 64),
        _json("payload"),
        _at("created_at", server_default=sa.func.now()),
        _at("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_notification_outbox_dedupe_key"),
    )
    op.create_index("ix_notification_outbox_policy_id", "notification_outbox", ["policy_id"])
    op.create_index(
        "ix_notification_outbox_unsent",
        "notification_outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "notification_outbox",
        "incident_escalations",
        "finding_resolutions",
        "findings",
        "policy_phase_history",
        "cancellations",
        "endorsements",
        "coverage_heads",
        "policies",
        "quotes",
        "underwriting_decisions",
        "assessments",
        "applications",
        "organisations",
    ):
        op.drop_table(table)
    op.execute(sa.schema.DropSequence(sa.Sequence("policy_number_seq")))
