"""Incidents and claims: incident reports, timeline, evidence and custody, forensics; claims, loss
items and statements, payouts and subrogation.

Written by hand, like 0001; constraint names follow storage.models.base.NAMING_CONVENTION and a
test compares this schema with the models.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CLAIM_PHASES = "'gathering_loss', 'in_review', 'offered', 'paying', 'closed', 'rejected'"


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int | None = None, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _fen(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _int(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _bool(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False)


def _json(name: str) -> sa.Column:
    return sa.Column(name, JSONB(), nullable=False)


def _references(table: str, column: str, parent: str, parent_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.{parent_column}"], name=f"fk_{table}_{column}_{parent}"
    )


def upgrade() -> None:
    _create_incident_tables()
    _create_claim_tables()


def _create_incident_tables() -> None:
    op.create_table(
        "incidents",
        _text("incident_id", 128),
        _text("policy_id", 128),
        _int("term_number", nullable=True),
        _text("reported_by", 16),
        _text("reporter_id", 64),
        _text("reference", 128),
        _at("discovered_at"),
        _at("received_at"),
        _text("grade", 32),
        _text("category", 48),
        _text("summary"),
        _json("affected_systems"),
        _text("region", 64, nullable=True),
        _json("coverage"),
        _bool("in_force"),
        _bool("late_notice"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incidents"),
        sa.UniqueConstraint("policy_id", "reference", name="uq_incidents_policy_id_reference"),
    )
    op.create_table(
        "incident_events",
        _id(),
        _text("incident_id", 128),
        _text("event_key", 300),
        _text("kind", 48),
        _at("at"),
        _text("actor", 64, nullable=True),
        _json("details"),
        sa.PrimaryKeyConstraint("id", name="pk_incident_events"),
        sa.UniqueConstraint("incident_id", "event_key", name="uq_incident_events_incident_id_event_key"),
        _references("incident_events", "incident_id", "incidents", "incident_id"),
    )
    op.create_table(
        "evidence",
        _id(),
        _text("incident_id", 128),
        _text("evidence_id", 64),
        _text("name", 300),
        _text("sha256", 64),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        _text("collected_by", 64),
        _at("collected_at"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.UniqueConstraint("incident_id", "evidence_id", name="uq_evidence_incident_id_evidence_id"),
        _references("evidence", "incident_id", "incidents", "incident_id"),
    )
    op.create_table(
        "evidence_custody",
        _id(),
        _text("incident_id", 128),
        _text("evidence_id", 64),
        _int("sequence"),
        _text("action", 16),
        _text("by", 64),
        _at("at"),
        _text("note", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_custody"),
        sa.UniqueConstraint(
            "incident_id",
            "evidence_id",
            "sequence",
            name="uq_evidence_custody_incident_id_evidence_id_sequence",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id", "evidence_id"],
            ["evidence.incident_id", "evidence.evidence_id"],
            name="fk_evidence_custody_incident_id_evidence",
        ),
    )
    op.create_table(
        "forensics_reports",
        _text("incident_id", 128),
        _text("vendor_id", 64),
        _json("report"),
        _at("received_at"),
        _bool("state_backed"),
        _at("first_intrusion_at"),
        sa.Column("personal_data_records_affected", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_forensics_reports"),
        _references("forensics_reports", "incident_id", "incidents", "incident_id"),
    )


def _create_claim_tables() -> None:
    op.create_table(
        "claims",
        _text("claim_id", 128),
        _text("incident_id", 128),
        _text("policy_id", 128),
        _text("claimant", 16),
        _text("third_party", 200, nullable=True),
        _text("phase", 32),
        _at("opened_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("claim_id", name="pk_claims"),
        sa.CheckConstraint(f"phase IN ({CLAIM_PHASES})", name="ck_claims_phase"),
        _references("claims", "incident_id", "incidents", "incident_id"),
    )
    op.create_index("ix_claims_incident_id", "claims", ["incident_id"])
    op.create_index("ix_claims_policy_id", "claims", ["policy_id"])
    op.create_table(
        "claim_phase_history",
        _id(),
        _text("claim_id", 128),
        _text("phase", 32),
        _text("reason", nullable=True),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_claim_phase_history"),
        sa.UniqueConstraint("claim_id", "phase", "at", name="uq_claim_phase_history_claim_id_phase_at"),
        _references("claim_phase_history", "claim_id", "claims", "claim_id"),
    )
    op.create_table(
        "loss_items",
        _id(),
        _text("claim_id", 128),
        _text("item_id", 128),
        _text("head", 48),
        _fen("amount_fen", nullable=True),
        _text("currency", 3),
        _json("item"),
        _at("recorded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_loss_items"),
        sa.UniqueConstraint("claim_id", "item_id", name="uq_loss_items_claim_id_item_id"),
        _references("loss_items", "claim_id", "claims", "claim_id"),
    )
    op.create_table(
        "loss_statements",
        _id(),
        _text("claim_id", 128),
        _int("determination"),
        _fen("total_payable_fen"),
        _text("currency", 3),
        _json("statement"),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_loss_statements"),
        sa.UniqueConstraint("claim_id", "determination", name="uq_loss_statements_claim_id_determination"),
        _references("loss_statements", "claim_id", "claims", "claim_id"),
    )
    # The bank's side: no foreign key to claims, the idempotency key is all it knows.
    op.create_table(
        "payouts",
        _id(),
        _text("idempotency_key", 200),
        _text("claim_id", 128),
        _int("sequence"),
        _fen("amount_fen"),
        _text("currency", 3),
        _text("head", 48, nullable=True),
        _bool("interim"),
        _text("payment_reference", 32),
        _at("requested_at"),
        _at("paid_at"),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.UniqueConstraint("idempotency_key", name="uq_payouts_idempotency_key"),
        sa.UniqueConstraint("payment_reference", name="uq_payouts_payment_reference"),
    )
    op.create_index("ix_payouts_claim_id", "payouts", ["claim_id"])
    op.create_table(
        "subrogations",
        _id(),
        _text("claim_id", 128),
        _text("liable_party", 200),
        _text("basis"),
        _fen("amount_sought_fen"),
        _text("currency", 3),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="pk_subrogations"),
        sa.UniqueConstraint("claim_id", "liable_party", name="uq_subrogations_claim_id_liable_party"),
        _references("subrogations", "claim_id", "claims", "claim_id"),
    )


def downgrade() -> None:
    for table in (
        "subrogations",
        "payouts",
        "loss_statements",
        "loss_items",
        "claim_phase_history",
        "claims",
        "forensics_reports",
        "evidence_custody",
        "evidence",
        "incident_events",
        "incidents",
    ):
        op.drop_table(table)
