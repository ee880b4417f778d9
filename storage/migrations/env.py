"""Alembic environment: run on the connection handed over by storage.migrate (or the ini's URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite = copy and move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic CLI, with sqlalchemy.url from the ini (a sync driver URL)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///data/reelbot.db")
    with engine.begin() as conn:
        _run(conn)
