"""Engine and session setup: the only place that knows which database dialect is in use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000


def _create_private_sqlite_file(url: str) -> None:
    """Create a new database file readable by its owner alone (0600), and its folder (0700)
    when AnyChat makes that too: the file holds every conversation and account.

    SQLite would create the file with the process umask, usually world-readable; it gives
    its -wal and -shm companions the database file's permissions, so those follow. An
    existing file or folder keeps the permissions its administrator chose.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    # The path SQLAlchemy hands to SQLite: relative to the working folder, no "~" expansion.
    path = Path(os.path.abspath(database))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the page read while a generation thread writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """Build the process-wide engine; SQLite gets its pragmas, other dialects their defaults."""
    if make_url(url).get_backend_name() == "sqlite":
        _create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """One engine plus its session factory, shared by every page run and generation thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed. `Session.execute` is typed as returning a
    plain Result; for these statements it is a CursorResult, which counts them."""
    return int(cast("CursorResult[Any]", result).rowcount)
