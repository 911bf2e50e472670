"""The audit trail records who: each new entry names the actor of its change in `actor`, and its
hash covers that name.

The application sets the actor per transaction in the setting `cyberins.actor` (storage/audit.py
`Actor.as_text`, set by the unit of work): the calling party and its key for an API request, the
workflow run and its activity for a worker's write, the operator for a `cyberins` command.
`audit_append` reads it once per statement; when nothing is set (a migration, a session outside the
application) it names the database role that wrote instead, so every entry from here on has one.

Entries with an actor are hashed in version 2 of the canonical form (`audit_chain_hash_v2`): version 1
with its first line `cyberins-audit-v2` and field(actor) as one more line. Entries written before
keep their version 1 hash and their NULL actor, and still verify.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _trail() -> ModuleType:
    """Migration 0004, which built the trail: its chain lock and its `audit_append` for downgrade."""
    spec = importlib.util.spec_from_file_location("audit_trail_0004", Path(__file__).with_name("0004_audit_log.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HASH_WITH_ACTOR = """
CREATE FUNCTION audit_chain_hash_v2(
    prev_hash text, seq bigint, table_name text, operation text, row_key text,
    policy_id text, incident_id text, claim_id text, row_digest text, recorded_at timestamptz, actor text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN encode(sha256(convert_to(concat_ws(E'\\n',
    'cyberins-audit-v2',
    audit_field(prev_hash),
    seq::text,
    audit_field(table_name),
    audit_field(operation),
    audit_field(row_key),
    audit_field(policy_id),
    audit_field(incident_id),
    audit_field(claim_id),
    audit_field(row_digest),
    (extract(epoch FROM recorded_at) * 1000000)::bigint::text,
    audit_field(actor)
), 'UTF8')), 'hex')
"""

# 0004's append, with the actor read once and stored and hashed with every entry.
APPEND_WITH_ACTOR = """
CREATE OR REPLACE FUNCTION audit_append(p_table text, p_operation text, p_rows jsonb[], p_key_columns text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_row jsonb;
    v_seq bigint;
    v_prev text;
    v_key text;
    v_digest text;
    v_at timestamptz;
    v_actor text;
    v_seqs bigint[] := '{}';
    v_keys text[] := '{}';
    v_policy_ids text[] := '{}';
    v_incident_ids text[] := '{}';
    v_claim_ids text[] := '{}';
    v_digests text[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    IF coalesce(cardinality(p_rows), 0) = 0 THEN
        RETURN;  -- a statement that changed no row takes no lock
    END IF;
    -- Held until the transaction ends: a rolled-back append leaves no gap, and the next
    -- writer reads the newest entry only once it is committed.
    PERFORM pg_advisory_xact_lock(CHAIN_LOCK);
    SELECT seq, hash INTO v_seq, v_prev FROM audit_log ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := repeat('0', 64);
    END IF;
    v_at := clock_timestamp();
    -- A setting made by SET LOCAL reads as '' once its transaction is over, NULL if never made.
    v_actor := coalesce(
        nullif(current_setting('cyberins.actor', true), ''),
        format('{"kind":"system","database_role":%s}', to_json(session_user::text))
    );
    FOREACH v_row IN ARRAY p_rows LOOP
        v_seq := v_seq + 1;
        v_key := audit_row_key(v_row, p_key_columns);
        v_digest := audit_row_digest(v_row);
        v_seqs := array_append(v_seqs, v_seq);
        v_keys := array_append(v_keys, v_key);
        v_policy_ids := array_append(v_policy_ids, v_row ->> 'policy_id');
        v_incident_ids := array_append(v_incident_ids, v_row ->> 'incident_id');
        v_claim_ids := array_append(v_claim_ids, v_row ->> 'claim_id');
        v_digests := array_append(v_digests, v_digest);
        v_prevs := array_append(v_prevs, v_prev);
        v_prev := audit_chain_hash_v2(v_prev, v_seq, p_table, p_operation, v_key, v_row ->> 'policy_id',
                                      v_row ->> 'incident_id', v_row ->> 'claim_id', v_digest, v_at, v_actor);
        v_hashes := array_append(v_hashes, v_prev);
    END LOOP;
    INSERT INTO audit_log (seq, recorded_at, table_name, operation, row_key,
                           policy_id, incident_id, claim_id, row_digest, prev_hash, hash, actor)
    SELECT e.seq, v_at, p_table, p_operation, e.row_key,
           e.policy_id, e.incident_id, e.claim_id, e.row_digest, e.prev_hash, e.hash, v_actor
    FROM unnest(v_seqs, v_keys, v_policy_ids, v_incident_ids, v_claim_ids, v_digests, v_prevs, v_hashes)
        AS e(seq, row_key, policy_id, incident_id, claim_id, row_digest, prev_hash, hash);
END
$$
"""


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("actor", sa.Text(), nullable=True))
    op.execute(HASH_WITH_ACTOR)
    # CREATE OR REPLACE keeps the function's owner and its privileges (none for PUBLIC).
    op.execute(APPEND_WITH_ACTOR.replace("CHAIN_LOCK", str(_trail().CHAIN_LOCK)))


def downgrade() -> None:
    # Dropping the column would leave every entry that names an actor with a hash nothing can
    # recompute: the trail would read as tampered. Refused once there is one.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT FROM audit_log WHERE actor IS NOT NULL) THEN "
        "RAISE EXCEPTION 'audit_log has entries that name their actor; downgrading would break their hashes'; "
        "END IF; END $$"
    )
    append = next(function for function in _trail().FUNCTIONS if "FUNCTION audit_append(" in function)
    op.execute(append.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(
        "DROP FUNCTION audit_chain_hash_v2(text, bigint, text, text, text, text, text, text, text, timestamptz, text)"
    )
    op.drop_column("audit_log", "actor")
