"""Fixtures of the fault suite: a real PostgreSQL (pgserver) for the distributed mode's tests."""

from tests.support.postgres import pg_server, pg_url  # noqa: F401 - fixtures
