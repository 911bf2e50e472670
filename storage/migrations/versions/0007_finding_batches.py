"""Findings batches: the API stores what a vendor posts and signals only the batch's id, so finding
detail never passes through Temporal (a claim check) and intake is not bound by payload sizes.

The audit trail's append computes each row's key and digest before it takes the chain's lock, so
that concurrent writers do that part side by side; under the lock only the chain is hashed. The
entries are the same bytes as before (storage/audit.py verifies both).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_batches",
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("finding_count", sa.Integer(), nullable=False),
        sa.Column("findings", JSONB(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name="pk_finding_batches"),
    )
    op.create_index("ix_finding_batches_policy_id", "finding_batches", ["policy_id"])
    op.execute(AUDIT_APPEND)


def downgrade() -> None:
    op.execute(_earlier_audit_append().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.drop_table("finding_batches")


# The bytes of "cyberins" read as a bigint: the one advisory lock that orders the chain (0004).
CHAIN_LOCK = 7167868469787586163

AUDIT_APPEND = f"""
CREATE OR REPLACE FUNCTION audit_append(p_table text, p_operation text, p_rows jsonb[], p_key_columns text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_count integer := coalesce(cardinality(p_rows), 0);
    v_keys text[];
    v_policy_ids text[];
    v_incident_ids text[];
    v_claim_ids text[];
    v_digests text[];
    v_prevs text[];
    v_hashes text[];
    v_seq bigint;
    v_prev text;
    v_at timestamptz;
BEGIN
    IF v_count = 0 THEN
        RETURN;  -- a statement that changed no row takes no lock
    END IF;
    -- What does not depend on the chain, for every row at once and before the lock.
    SELECT array_agg(audit_row_key(r, p_key_columns) ORDER BY o), array_agg(r ->> 'policy_id' ORDER BY o),
           array_agg(r ->> 'incident_id' ORDER BY o), array_agg(r ->> 'claim_id' ORDER BY o),
           array_agg(audit_row_digest(r) ORDER BY o)
    INTO v_keys, v_policy_ids, v_incident_ids, v_claim_ids, v_digests
    FROM unnest(p_rows) WITH ORDINALITY AS u(r, o);
    -- Held until the transaction ends: a rolled-back append leaves no gap, and the next
    -- writer reads the newest entry only once it is committed.
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    SELECT seq, hash INTO v_seq, v_prev FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := repeat('0', 64);
    END IF;
    v_at := clock_timestamp();
    v_prevs := array_fill(NULL::text, ARRAY[v_count]);
    v_hashes := array_fill(NULL::text, ARRAY[v_count]);
    FOR i IN 1 .. v_count LOOP
        v_prevs[i] := v_prev;
        v_prev := audit_chain_hash(v_prev, v_seq + i, p_table, p_operation, v_keys[i], v_policy_ids[i],
                                   v_incident_ids[i], v_claim_ids[i], v_digests[i], v_at);
        v_hashes[i] := v_prev;
    END LOOP;
    INSERT INTO audit_log (seq, recorded_at, table_name, operation, row_key,
                           policy_id, incident_id, claim_id, row_digest, prev_hash, hash)
    SELECT v_seq + e.o, v_at, p_table, p_operation, e.row_key,
           e.policy_id, e.incident_id, e.claim_id, e.row_digest, e.prev_hash, e.hash
    FROM unnest(v_keys, v_policy_ids, v_incident_ids, v_claim_ids, v_digests, v_prevs, v_hashes)
        WITH ORDINALITY AS e(row_key, policy_id, incident_id, claim_id, row_digest, prev_hash, hash, o);
END
$$
"""


def _earlier_audit_append() -> str:
    """0004's definition, read from that migration rather than copied here."""
    spec = importlib.util.spec_from_file_location("audit_log_0004", Path(__file__).with_name("0004_audit_log.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(f for f in module.FUNCTIONS if "FUNCTION audit_append(" in f)
