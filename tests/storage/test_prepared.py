"""Prepared statements (storage.prepared): Core statements run on the driver's cursor must behave as
`Session.execute` would, on SQLite and (with REELBOT_TEST_DATABASE_URL) PostgreSQL: the rows, the
counts, RETURNING, the savepoints and transactions they run in, the types' bind processors, and a
driver error raised as SQLAlchemy's own exception class."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import String, TypeDecorator, bindparam, create_engine, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import open_database
from storage.models import Base, User
from storage.prepared import Prepared

_users = Base.metadata.tables[User.__tablename__]
NEW_USER = Prepared(insert(_users).values(
    {name: bindparam(name) for name in ("platform", "platform_user_id", "name", "balance", "allowance_day",
                                        "created_at")}).returning(_users.c.id))
BY_PLATFORM = Prepared(select(_users.c.id, _users.c.name, _users.c.balance)
                       .where(_users.c.platform == bindparam("platform"), _users.c.platform_user_id == bindparam("puid")))
# the same bind twice: positional paramstyles repeat it, numbered ones refer to it again
SPEND = Prepared(update(_users).where(_users.c.id == bindparam("uid"), _users.c.balance >= bindparam("price"))
                 .values(balance=_users.c.balance - bindparam("price")).returning(_users.c.balance))
RENAME = Prepared(update(_users).where(_users.c.id == bindparam("uid")).values(name=bindparam("name")))


class Shouting(TypeDecorator[str]):
    """A type with a bind processor: what it binds must go through it."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else str(value).upper()


ECHO = Prepared(select(literal_column("'<'") + bindparam("word", type_=Shouting())))


def _user(puid: str, balance: int = 10) -> dict[str, Any]:
    return dict(platform="discord", platform_user_id=puid, name=f"user {puid}", balance=balance, allowance_day="",
                created_at=1.0)


async def test_rows_counts_and_returning_as_the_orm_sees_them(db_url: str) -> None:
    async with open_database(db_url) as db:
        def write(session: Session) -> tuple[Any, ...]:
            uid = NEW_USER.scalar(session, _user("1"))
            spent = SPEND.first(session, {"uid": uid, "price": 4})
            refused = SPEND.first(session, {"uid": uid, "price": 100})
            renamed = RENAME.rowcount(session, {"uid": uid, "name": "Ada"})
            nobody = RENAME.rowcount(session, {"uid": uid + 1000, "name": "nobody"})
            return uid, spent, refused, renamed, nobody

        uid, spent, refused, renamed, nobody = await db.write(write)
        assert (spent, refused, renamed, nobody) == ((6,), None, 1, 0)
        row = await db.read(lambda s: s.get(User, uid))
        assert (row.name, row.balance) == ("Ada", 6)
        assert await db.read(lambda s: BY_PLATFORM.first(s, {"platform": "discord", "puid": "1"})) == (uid, "Ada", 6)
        assert await db.read(lambda s: BY_PLATFORM.first(s, {"platform": "discord", "puid": "2"})) is None


async def test_a_rolled_back_savepoint_or_transaction_takes_its_statements_with_it(db_url: str) -> None:
    async with open_database(db_url) as db:
        def write(session: Session) -> None:
            NEW_USER.scalar(session, _user("kept"))
            with pytest.raises(RuntimeError):
                with session.begin_nested():
                    NEW_USER.scalar(session, _user("undone"))
                    raise RuntimeError("the unit fails")
            NEW_USER.scalar(session, _user("after"))

        await db.write(write)

        def failing(session: Session) -> None:
            NEW_USER.scalar(session, _user("never"))
            raise RuntimeError("the transaction fails")

        with pytest.raises(RuntimeError):
            await db.write(failing)
        names = await db.read(lambda s: sorted(s.scalars(select(User.platform_user_id)).all()))
        assert names == ["after", "kept"]


async def test_a_driver_error_is_sqlalchemys_and_the_unit_may_go_on(db_url: str) -> None:
    async with open_database(db_url) as db:
        def write(session: Session) -> str:
            NEW_USER.scalar(session, _user("1"))
            with pytest.raises(IntegrityError) as caught:
                with session.begin_nested():
                    NEW_USER.scalar(session, _user("1"))  # (platform, platform_user_id) is unique
            assert "INSERT INTO users" in str(caught.value)
            NEW_USER.scalar(session, _user("2"))
            return "went on"

        assert await db.write(write) == "went on"
        assert await db.read(lambda s: len(s.scalars(select(User.id)).all())) == 2


async def test_bind_processors_apply(db_url: str) -> None:
    async with open_database(db_url) as db:
        assert await db.read(lambda s: ECHO.scalar(s, {"word": "quiet"})) == "<QUIET"


def test_each_transaction_of_a_session_runs_on_its_own_connection(tmp_path: Any) -> None:
    """The connection is looked up once per transaction (kept in session.info): the next transaction
    of the same session must run on its own, or its rollback would not undo its statements."""
    engine = create_engine(f"sqlite:///{tmp_path}/reuse.db")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            NEW_USER.scalar(session, _user("a"))
            session.commit()
            NEW_USER.scalar(session, _user("b"))
            session.rollback()
            NEW_USER.scalar(session, _user("c"))
            session.commit()
            names = session.scalars(select(User.platform_user_id).order_by(User.platform_user_id)).all()
        assert names == ["a", "c"]
    finally:
        engine.dispose()
