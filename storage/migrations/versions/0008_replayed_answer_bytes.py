"""The exact bytes of an idempotent request's first answer, which every repeat is sent.

Replays used to re-render `response`, whose JSONB keeps neither key order nor spacing, so concurrent
repeats got the first answer in two spellings. `response` is still written, for SQL and for API
processes of the previous release during a rolling deploy; rows from before this migration have no
bytes and are replayed from it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_requests", sa.Column("response_body", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("api_requests", "response_body")
