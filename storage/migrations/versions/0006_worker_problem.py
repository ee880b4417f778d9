"""cluster_workers.problem: why a running worker takes no job (its data directory is full), in words

Revision ID: 0006_worker_problem
Revises: 0005_cluster
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_worker_problem"
down_revision = "0005_cluster"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cluster_workers") as batch:
        batch.add_column(sa.Column("problem", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cluster_workers") as batch:
        batch.drop_column("problem")
