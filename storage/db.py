"""Engine and session setup: the only place that knows which database dialect is in use."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 5000
# A server's pooled connection idle this long is pinged before use (see _ping_after_idle).
PING_AFTER_IDLE_S = 10.0
# And one this old is replaced, whatever its use: a proxy or server may end long-lived ones.
RECYCLE_AFTER_S = 1800
# Beyond the connections a server database's pool keeps, SQLAlchemy opens up to this many
# more for a burst and closes each as it is returned.
POOL_OVERFLOW = 10
_IDLE_SINCE = "anychat_idle_since"


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


def create_db_engine(url: str, pool_size: int | None = None) -> Engine:
    """Build the process-wide engine; SQLite gets its pragmas, a server database a pool of
    `pool_size` connections (the app's is ANYCHAT_DB_POOL_SIZE; None: SQLAlchemy's 5).

    SQLAlchemy's default pool keeps 5 connections and closes every one opened beyond them
    when it is returned. A busy process (sixteen generation threads, a page thread per
    active tab) then opened and closed PostgreSQL connections all the time, each a new
    server process and sign-in, some while a reply's final write held the worker's lock:
    at 80 teammates on two processes, 592 turns a minute with 5 kept against 788-845 with
    20 (bench.load, 4 Dec). SQLite keeps the default: 20 connections there did worse (379
    against 506 turns a minute at 40 teammates), more writers waiting in its busy handler.
    """
    if make_url(url).get_backend_name() == "sqlite":
        _create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    sized: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
    engine = create_engine(
        url,
        max_overflow=POOL_OVERFLOW,
        pool_recycle=RECYCLE_AFTER_S,
        pool_use_lifo=True,
        **sized,
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for a connection that sat idle: a ping is a round trip
    (0.1-0.5 ms on loopback, up to a tenth of a send), and a connection used moments ago was
    alive then.

    A connection dies while idle: the server restarted, or a proxy or idle timeout closed it;
    that one is pinged, replaced, and the pool's older connections with it, before anyone
    uses it. The trade-off: a connection that died within PING_AFTER_IDLE_S of its last use
    fails the one statement that meets it, and SQLAlchemy then invalidates the pool, so the
    next use reconnects. The pool hands out the connection used last (LIFO), so under use one
    connection stays busy and the others idle until pinged or recycled."""

    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)  # None: a new connection, nothing to ping
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(str(error)) from error
            raise

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


class Database:
    """One engine plus its session factory, shared by every page run and generation thread."""

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size)
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
