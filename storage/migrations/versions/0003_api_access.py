"""The API's access tables: hashed API keys, vendors' webhook secrets, per-object grants, and the
first answers to idempotent requests and webhook deliveries.

Written by hand, like 0001 and 0002; a test compares this schema with the models.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PARTY_KINDS = "'insured', 'vendor', 'insurer'"


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _revoked_at() -> sa.Column:
    return sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(12), nullable=False),
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        _created_at(),
        _revoked_at(),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.CheckConstraint(f"party_kind IN ({PARTY_KINDS})", name="ck_api_keys_party_kind"),
    )
    op.create_index("ix_api_keys_party", "api_keys", ["party_kind", "party_id"])
    op.create_table(
        "webhook_secrets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        _created_at(),
        _revoked_at(),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_secrets"),
    )
    op.create_index("ix_webhook_secrets_vendor_id", "webhook_secrets", ["vendor_id"])
    op.create_table(
        "api_grants",
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("object_kind", sa.String(16), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("party_kind", "party_id", "object_kind", "object_id", name="pk_api_grants"),
        sa.CheckConstraint(f"party_kind IN ({PARTY_KINDS})", name="ck_api_grants_party_kind"),
        sa.CheckConstraint("object_kind IN ('policy', 'incident', 'claim')", name="ck_api_grants_object_kind"),
    )
    op.create_index("ix_api_grants_object", "api_grants", ["object_kind", "object_id"])
    op.create_table(
        "api_requests",
        sa.Column("party_kind", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("key_kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", JSONB(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("party_kind", "party_id", "key_kind", "key", name="pk_api_requests"),
        sa.CheckConstraint("key_kind IN ('idempotency', 'webhook')", name="ck_api_requests_key_kind"),
    )


def downgrade() -> None:
    for table in ("api_requests", "api_grants", "webhook_secrets", "api_keys"):
        op.drop_table(table)
