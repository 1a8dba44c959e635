"""Apply Alembic migrations at start-up, so a new release never needs a manual step."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; tests/test_storage.py keeps the two in step.
HEAD_REVISION = "0013"
# Any fixed number: the key of PostgreSQL's advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 0x616E7963686174  # "anychat"


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # deferred: most starts find the schema current

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.scalar(text("select version_num from alembic_version"))
        return None if revision is None else str(revision)


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision using the caller's engine (and its pragmas).

    Several processes may start together on one database: one migrates while the others wait
    for it, then find the schema current. None serves before it is.
    """
    # The common case skips loading Alembic and its scripts on every start. Not on SQLite
    # without the lock: a second process's first connection to a file another is migrating
    # (not yet in WAL mode) waits on its write lock, and past the busy timeout fails with
    # "database is locked"; the lock is a local file, so taking it first costs nothing.
    if engine.dialect.name != "sqlite" and current_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine):
        if current_revision(engine) == HEAD_REVISION:
            return  # another process migrated while this one waited
        from alembic import command

        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time, across processes and machines sharing the database.

    PostgreSQL: a session-level advisory lock, released with its connection should the
    process die. SQLite: an exclusive lock on a file beside the database (SQLite serves one
    machine), released by the kernel should the process die.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("select pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(
                    text("select pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(os.path.abspath(database) + ".migrate-lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
