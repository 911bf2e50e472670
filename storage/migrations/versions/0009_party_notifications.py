"""Notifications delivered: each party's events, its webhook endpoints and e-mail recipients, and
every delivery with its attempts.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Who registered which endpoint or address, and when it was paused or disabled, is on the trail;
# events, deliveries and attempts are the delivery queue and its log, and secrets never go on it.
AUDITED_TABLES = {"webhook_endpoints": "endpoint_id", "email_recipients": "id"}
TRIGGERS = (
    ("audit_trail_insert", "INSERT", "NEW TABLE AS changed_rows"),
    ("audit_trail_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS changed_rows"),
    ("audit_trail_delete", "DELETE", "OLD TABLE AS changed_rows"),
)
RECIPIENT_KINDS = "party_kind IN ('insured', 'vendor', 'insurer', 'platform', 'operator')"


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "party_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        _now(),
        sa.CheckConstraint(RECIPIENT_KINDS, name="ck_party_events_party_kind"),
        sa.UniqueConstraint("event_id", name="uq_party_events_event_id"),
        sa.UniqueConstraint("dedupe_key", "party_kind", "party_id", name="uq_party_events_decision"),
    )
    op.create_index("ix_party_events_feed", "party_events", ["party_kind", "party_id", "id"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.String(40), primary_key=True),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", JSONB(), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(300), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(RECIPIENT_KINDS, name="ck_webhook_endpoints_party_kind"),
        sa.CheckConstraint("status IN ('active', 'paused', 'disabled', 'deleted')", name="ck_webhook_endpoints_status"),
    )
    op.create_index("ix_webhook_endpoints_party", "webhook_endpoints", ["party_kind", "party_id"])
    op.create_table(
        "endpoint_secrets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("endpoint_id", sa.String(40), sa.ForeignKey("webhook_endpoints.endpoint_id",
                  name="fk_endpoint_secrets_endpoint_id_webhook_endpoints"), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        _now(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_endpoint_secrets_endpoint_id", "endpoint_secrets", ["endpoint_id"])
    op.create_table(
        "email_recipients",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("event_types", JSONB(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _now(),
        sa.CheckConstraint(RECIPIENT_KINDS, name="ck_email_recipients_party_kind"),
        sa.CheckConstraint("language IN ('zh', 'en')", name="ck_email_recipients_language"),
        sa.CheckConstraint("status IN ('active', 'paused')", name="ck_email_recipients_status"),
        sa.UniqueConstraint("party_kind", "party_id", "address", name="uq_email_recipients_address"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("party_events.event_id",
                  name="fk_deliveries_event_id_party_events"), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("target", sa.String(320), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name="ck_deliveries_channel"),
        sa.CheckConstraint("role IN ('primary', 'fallback')", name="ck_deliveries_role"),
        sa.CheckConstraint("status IN ('pending', 'standby', 'delivered', 'failed', 'skipped')", name="ck_deliveries_status"),
        sa.UniqueConstraint("event_id", "channel", "target", name="uq_deliveries_target"),
    )
    op.create_index("ix_deliveries_target", "deliveries", ["target", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("target", sa.String(320), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
    )
    op.create_index("ix_delivery_attempts_event", "delivery_attempts", ["event_id", "id"])
    op.create_index("ix_delivery_attempts_target", "delivery_attempts", ["target", "id"])
    for table, key_column in AUDITED_TABLES.items():
        for trigger, event, transition_tables in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON {table} REFERENCING {transition_tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_record_changes('{key_column}')"
            )


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "email_recipients", "endpoint_secrets", "webhook_endpoints", "party_events"):
        op.drop_table(table)
