"""The audit trail: one hash-chained row per change to a business row, appended by triggers.

Rows are written only by the trigger functions of migrations 0004 and 0010, never through this
model; the model is here for reading the chain and so that the migration test compares the table
with it. It holds no business content: `row_digest` is the SHA-256 of the changed row, which is
enough to prove the row's state without keeping personal data twice. `actor` names who made the
change by ids (storage/audit.py `Actor`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

AUDIT_OPERATIONS = ("INSERT", "UPDATE", "DELETE", "BASELINE")


class AuditLogRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(f"operation IN ({', '.join(repr(o) for o in AUDIT_OPERATIONS)})", name="operation"),
        # The history of one business row, newest last: `audit verify --rows` reads it per table.
        Index("ix_audit_log_table_name_row_key_seq", "table_name", "row_key", "seq"),
        # The trail of one policy, incident or claim. Partial: most entries have no incident or
        # claim, and every indexed entry makes each append dearer.
        *(
            Index(f"ix_audit_log_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
            for column in ("policy_id", "incident_id", "claim_id")
        ),
    )

    # Gapless: assigned under a lock by the trigger, so a missing number is a deleted row.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime]
    table_name: Mapped[str] = mapped_column(String(63))
    operation: Mapped[str] = mapped_column(String(8))
    # The changed row's primary key as a JSON object, e.g. {"id": 42} or {"policy_id": "...", "term_number": 1}.
    row_key: Mapped[str] = mapped_column(Text)
    policy_id: Mapped[str | None] = mapped_column(String(128))
    incident_id: Mapped[str | None] = mapped_column(String(128))
    claim_id: Mapped[str | None] = mapped_column(String(128))
    row_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Who: the JSON text of storage/audit.py `Actor`, covered by `hash`. NULL on entries from before
    # migration 0010, which keep the hash they were written with.
    actor: Mapped[str | None] = mapped_column(Text)
