"""The distributed mode: which attempt of a job runs where, its queue job, where its video is; workers

`jobs.attempt` numbers the runs of a job: a worker claims a job by raising it, and every write it
makes is conditional on the number it got, so a worker whose job moved to another (it stopped
heartbeating, then woke up) cannot write over the new run. `jobs.queue_job_id` is the job's row in
the queue engine (procrastinate), stored in the same transaction as the reservation.
`jobs.artifact_holder` is the front door whose disk holds the finished video. `cluster_workers`
holds each worker's heartbeat: its backends, the routes it serves and the jobs it runs.
Plain columns and a plain table, so SQLite (the embedded default, which never uses them) keeps working.

Revision ID: 0005_cluster
Revises: 0004_seq
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_cluster"
down_revision = "0004_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
        batch.add_column(sa.Column("queue_job_id", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("artifact_holder", sa.String(512), nullable=True))
    op.create_table(
        "cluster_workers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="up"),
        sa.Column("routes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("backends", sa.Text, nullable=False, server_default="[]"),
        sa.Column("jobs", sa.Text, nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    op.drop_table("cluster_workers")
    with op.batch_alter_table("jobs") as batch:
        for column in ("artifact_holder", "queue_job_id", "worker", "attempt"):
            batch.drop_column(column)
