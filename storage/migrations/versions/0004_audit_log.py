"""The audit trail: every change to a business row of policies, incidents and claims is appended to
`audit_log`, a hash chain that the application's role cannot change.

Triggers, not application code, write the trail, so no activity can forget it:

- `audit_trail_insert`, `audit_trail_update` and `audit_trail_delete` on each table of
  AUDITED_TABLES append one entry per inserted, deleted or actually changed row (an UPDATE that
  leaves a row as it was is no event). They fire once per statement with the statement's rows
  (transition tables), so a bulk insert costs one lock and one INSERT into the log, not one per row.
  Their function is SECURITY DEFINER: it runs as the owner of these objects (the role that runs the
  migrations), so the application's role needs no privilege on `audit_log` at all.
- Appends take a transaction-scoped advisory lock (CHAIN_LOCK), read the newest entry and add the
  next number: one gapless sequence, in the order the writing transactions commit. Writers of
  business rows therefore run one at a time from their first audited write to their commit.
  Business writes must run at READ COMMITTED (the default): at REPEATABLE READ a writer does not
  see a concurrent writer's newest entry and fails with a duplicate key instead.
- `audit_log_append_only` refuses every UPDATE, DELETE and TRUNCATE of `audit_log`, for every role,
  superusers included; `audit_log_appended_by_owner` refuses INSERTs by a role that is not (a
  member of) the table's owner, even one granted INSERT by `GRANT ... ON ALL TABLES`. Only the owner
  or a superuser can disable triggers (ALTER TABLE, session_replication_role); what they change
  then is what `cyberins audit verify` finds.

Each entry's hash covers every other column of the entry; the canonical form is written out in
`storage/audit.py`, which recomputes it, and in `audit_chain_hash` below. The entry keeps only the
SHA-256 of `to_jsonb(row)::text` (timestamps rendered in UTC), never the row's content.

Rows that exist when this migration runs get a BASELINE entry each, so the trail covers them. A
later migration that adds, drops or retypes a column of an audited table changes every row's
digest: it must call `SELECT audit_baseline('<table>', ARRAY[<primary key columns>])` after the
change, and a new business table needs the three triggers.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Every business table with its primary key columns. Not audited: the API's access tables (keys,
# secrets, grants, replayed answers), the notification outbox (a delivery queue) and audit_log.
AUDITED_TABLES: dict[str, tuple[str, ...]] = {
    "organisations": ("id",),
    "applications": ("policy_id",),
    "assessments": ("id",),
    "underwriting_decisions": ("id",),
    "quotes": ("quote_id",),
    "policies": ("policy_id", "term_number"),
    "coverage_heads": ("policy_id", "term_number", "head"),
    "endorsements": ("id",),
    "cancellations": ("id",),
    "policy_phase_history": ("id",),
    "findings": ("id",),
    "finding_resolutions": ("id",),
    "incident_escalations": ("id",),
    "incidents": ("incident_id",),
    "incident_events": ("id",),
    "evidence": ("id",),
    "evidence_custody": ("id",),
    "forensics_reports": ("incident_id",),
    "claims": ("claim_id",),
    "claim_phase_history": ("id",),
    "loss_items": ("id",),
    "loss_statements": ("id",),
    "payouts": ("id",),
    "subrogations": ("id",),
}

# The bytes of "cyberins" read as a bigint: the one advisory lock that orders the chain.
CHAIN_LOCK = 7167868469787586163

# The helpers are SQL functions declared STABLE like what they call (convert_to, concat_ws,
# extract), so that PostgreSQL inlines them into the statements that use them: called as real
# functions, once per field of every entry, they made an append ten times slower.
FUNCTIONS = [
    # One free-text value of the canonical form: "-" for NULL, else "<UTF-8 byte length>:<text>",
    # so that no value can run into the next.
    """
    CREATE FUNCTION audit_field(value text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE WHEN value IS NULL THEN '-'
                ELSE octet_length(convert_to(value, 'UTF8'))::text || ':' || value END
    """,
    # The primary key as a JSON object: {"id": 42}, {"policy_id": "...", "term_number": 1}. Spelt out
    # per key length (up to four columns) rather than aggregated, so that it too can be inlined.
    """
    CREATE FUNCTION audit_row_key(row_data jsonb, key_columns text[]) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (CASE cardinality(key_columns)
        WHEN 1 THEN jsonb_build_object(key_columns[1], row_data -> key_columns[1])
        WHEN 2 THEN jsonb_build_object(key_columns[1], row_data -> key_columns[1],
                                       key_columns[2], row_data -> key_columns[2])
        WHEN 3 THEN jsonb_build_object(key_columns[1], row_data -> key_columns[1],
                                       key_columns[2], row_data -> key_columns[2],
                                       key_columns[3], row_data -> key_columns[3])
        WHEN 4 THEN jsonb_build_object(key_columns[1], row_data -> key_columns[1],
                                       key_columns[2], row_data -> key_columns[2],
                                       key_columns[3], row_data -> key_columns[3],
                                       key_columns[4], row_data -> key_columns[4])
    END)::text
    """,
    """
    CREATE FUNCTION audit_row_digest(row_data jsonb) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN encode(sha256(convert_to(row_data::text, 'UTF8')), 'hex')
    """,
    # The canonical form; storage/audit.py computes the same bytes.
    """
    CREATE FUNCTION audit_chain_hash(
        prev_hash text, seq bigint, table_name text, operation text, row_key text,
        policy_id text, incident_id text, claim_id text, row_digest text, recorded_at timestamptz
    ) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN encode(sha256(convert_to(concat_ws(E'\\n',
        'cyberins-audit-v1',
        audit_field(prev_hash),
        seq::text,
        audit_field(table_name),
        audit_field(operation),
        audit_field(row_key),
        audit_field(policy_id),
        audit_field(incident_id),
        audit_field(claim_id),
        audit_field(row_digest),
        (extract(epoch FROM recorded_at) * 1000000)::bigint::text
    ), 'UTF8')), 'hex')
    """,
    # Appends one entry per row, in the rows' order, all with one recorded_at.
    f"""
    CREATE FUNCTION audit_append(p_table text, p_operation text, p_rows jsonb[], p_key_columns text[])
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
        v_seqs bigint[] := '{{}}';
        v_keys text[] := '{{}}';
        v_policy_ids text[] := '{{}}';
        v_incident_ids text[] := '{{}}';
        v_claim_ids text[] := '{{}}';
        v_digests text[] := '{{}}';
        v_prevs text[] := '{{}}';
        v_hashes text[] := '{{}}';
    BEGIN
        IF coalesce(cardinality(p_rows), 0) = 0 THEN
            RETURN;  -- a statement that changed no row takes no lock
        END IF;
        -- Held until the transaction ends: a rolled-back append leaves no gap, and the next
        -- writer reads the newest entry only once it is committed.
        PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
        SELECT seq, hash INTO v_seq, v_prev FROM audit_log ORDER BY seq DESC LIMIT 1;
        IF NOT FOUND THEN
            v_seq := 0;
            v_prev := repeat('0', 64);
        END IF;
        v_at := clock_timestamp();
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
            v_prev := audit_chain_hash(v_prev, v_seq, p_table, p_operation, v_key, v_row ->> 'policy_id',
                                       v_row ->> 'incident_id', v_row ->> 'claim_id', v_digest, v_at);
            v_hashes := array_append(v_hashes, v_prev);
        END LOOP;
        INSERT INTO audit_log (seq, recorded_at, table_name, operation, row_key,
                               policy_id, incident_id, claim_id, row_digest, prev_hash, hash)
        SELECT e.seq, v_at, p_table, p_operation, e.row_key,
               e.policy_id, e.incident_id, e.claim_id, e.row_digest, e.prev_hash, e.hash
        FROM unnest(v_seqs, v_keys, v_policy_ids, v_incident_ids, v_claim_ids, v_digests, v_prevs, v_hashes)
            AS e(seq, row_key, policy_id, incident_id, claim_id, row_digest, prev_hash, hash);
    END
    $$
    """,
    # One call per statement, with the statement's rows in its transition table: a batch of
    # 5,000 findings is one lock, one look-up of the newest entry and one INSERT.
    # TimeZone is fixed so that a row's digest does not depend on the writer's session settings.
    """
    CREATE FUNCTION audit_record_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET TimeZone = 'UTC'
    AS $$
    DECLARE
        v_rows jsonb[];
        -- TG_ARGV counts from 0; a slice counts from 1, as audit_row_key expects.
        v_key_columns text[] := TG_ARGV[0:TG_NARGS - 1];
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            -- A row the UPDATE left as it was is no event.
            SELECT array_agg(n.row_data) INTO v_rows
            FROM (SELECT to_jsonb(c) AS row_data FROM changed_rows AS c) AS n
            WHERE NOT EXISTS (SELECT FROM old_rows AS o WHERE to_jsonb(o) = n.row_data);
        ELSE
            SELECT array_agg(to_jsonb(c)) INTO v_rows FROM changed_rows AS c;
        END IF;
        PERFORM audit_append(TG_TABLE_NAME, TG_OP, v_rows, v_key_columns);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION audit_baseline(p_table text, p_key_columns text[]) RETURNS bigint
    LANGUAGE plpgsql SET TimeZone = 'UTC'
    AS $$
    DECLARE
        v_row jsonb;
        v_batch jsonb[] := '{}';
        v_appended bigint := 0;
    BEGIN
        FOR v_row IN EXECUTE format(
            'SELECT to_jsonb(t) FROM %I AS t ORDER BY %s', p_table,
            (SELECT string_agg(quote_ident(k), ', ') FROM unnest(p_key_columns) AS k)
        ) LOOP
            v_batch := array_append(v_batch, v_row);
            IF cardinality(v_batch) = 10000 THEN
                PERFORM audit_append(p_table, 'BASELINE', v_batch, p_key_columns);
                v_appended := v_appended + cardinality(v_batch);
                v_batch := '{}';
            END IF;
        END LOOP;
        PERFORM audit_append(p_table, 'BASELINE', v_batch, p_key_columns);
        RETURN v_appended + cardinality(v_batch);
    END
    $$
    """,
    """
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE FUNCTION audit_log_check_writer() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NOT pg_has_role(current_user, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID),
                           'MEMBER') THEN
            RAISE EXCEPTION 'audit_log is written only by the audit trail''s triggers'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NULL;
    END
    $$
    """,
]

# Functions that write the chain: nobody but their owner calls them (the triggers run as the owner).
OWNER_ONLY_FUNCTIONS = (
    "audit_append(text, text, jsonb[], text[])",
    "audit_baseline(text, text[])",
    "audit_record_changes()",
)

# Statement-level, each with the changed rows as `changed_rows`; PostgreSQL allows a transition
# table only on a trigger for a single event, hence three.
TRIGGERS = (
    ("audit_trail_insert", "INSERT", "NEW TABLE AS changed_rows"),
    ("audit_trail_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS changed_rows"),
    ("audit_trail_delete", "DELETE", "OLD TABLE AS changed_rows"),
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.String(128), nullable=True),
        sa.Column("incident_id", sa.String(128), nullable=True),
        sa.Column("claim_id", sa.String(128), nullable=True),
        sa.Column("row_digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.CheckConstraint(
            "operation IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE')", name="ck_audit_log_operation"
        ),
    )
    op.create_index("ix_audit_log_table_name_row_key_seq", "audit_log", ["table_name", "row_key", "seq"])
    for column in ("policy_id", "incident_id", "claim_id"):
        op.create_index(
            f"ix_audit_log_{column}", "audit_log", [column], postgresql_where=sa.text(f"{column} IS NOT NULL")
        )
    op.execute("REVOKE ALL ON TABLE audit_log FROM PUBLIC")

    for function in FUNCTIONS:
        op.execute(function)
    # Pinned to the schema the migration runs in, so a caller's search_path cannot substitute
    # its own audit_log or helper functions for the definer's.
    op.execute(
        "DO $$ BEGIN EXECUTE format("
        "'ALTER FUNCTION audit_record_changes() SET search_path = %I, pg_temp', current_schema()); END $$"
    )
    for function in OWNER_ONLY_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")

    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_appended_by_owner BEFORE INSERT ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_check_writer()"
    )

    for table, key_columns in AUDITED_TABLES.items():
        assert len(key_columns) <= 4, "audit_row_key spells out keys of up to four columns"
        arguments = ", ".join(f"'{column}'" for column in key_columns)
        for trigger, event, transition_tables in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON {table} REFERENCING {transition_tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_record_changes({arguments})"
            )
        # The trail starts from the rows already there.
        op.execute(f"SELECT audit_baseline('{table}', ARRAY[{arguments}])")


def downgrade() -> None:
    for table in AUDITED_TABLES:
        for trigger, _, _ in TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.drop_table("audit_log")
    for function in (
        "audit_log_check_writer()",
        "audit_log_refuse_change()",
        *OWNER_ONLY_FUNCTIONS,
        "audit_chain_hash(text, bigint, text, text, text, text, text, text, text, timestamptz)",
        "audit_row_digest(jsonb)",
        "audit_row_key(jsonb, text[])",
        "audit_field(text)",
    ):
        op.execute(f"DROP FUNCTION {function}")
