"""jobs.files_deleted_at: when retention removed a job's files (the row keeps its history)

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("files_deleted_at", sa.Float, nullable=True))
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_finished", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("files_deleted_at")
