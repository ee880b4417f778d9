"""jobs.seq_reserved: event sequence numbers reserved for a job, stored before any is streamed

Events stream at once and are stored in batches; after a crash (kill -9) a seq that was streamed but
not yet stored must not be given to a different event. The agent publishes an event only when its
seq is at or below this mark, raises the mark in the same transaction that stores a batch, and after
a restart numbers new events above it.

Revision ID: 0004_seq
Revises: 0003_recoveries
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_seq"
down_revision = "0003_recoveries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("seq_reserved", sa.Integer, nullable=False, server_default="0"))
    # a job stored before this revision has reserved exactly what it stored
    op.execute("UPDATE jobs SET seq_reserved = last_seq")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("seq_reserved")
