"""The server database's pool (storage/db.py): a connection that sat idle is pinged before
use, and replaced when it died; one used moments ago is not pinged (a ping is a round trip,
a tenth of a send); one that died since is found by the statement that meets it, and the
next use reconnects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, exc, text

from chatcore.config import load_settings
from chatcore.wiring import build_services
from storage import Database
from storage import db as db_module


@pytest.fixture
def server_db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    database.dispose()


def _backend(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(url: str, pid: int) -> None:
    """End a backend as a server restart or an idle timeout would."""
    killer = create_engine(url)
    try:
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


def _count_pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = database.engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_used_moments_ago_is_not_pinged(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _count_pings(server_db, monkeypatch)
    first = _backend(server_db)
    assert _backend(server_db) == first  # the same connection, the one used last
    assert pings == []
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    assert _backend(server_db) == first
    assert pings == [1]


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    server_db: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # every connection "idle"
    first = _backend(server_db)
    _kill(postgres_url, first)
    assert _backend(server_db) != first  # no error: pinged, found dead, reconnected


def test_a_connection_that_died_moments_after_use_fails_once(
    server_db: Database, postgres_url: str
) -> None:
    """The trade-off of pinging idle connections only: the one statement that meets the dead
    connection fails, and SQLAlchemy invalidates the pool, so the next use reconnects."""
    first = _backend(server_db)
    _kill(postgres_url, first)
    with pytest.raises(exc.DBAPIError) as failed:
        _backend(server_db)
    assert failed.value.connection_invalidated
    assert _backend(server_db) != first


def test_a_burst_up_to_the_pool_size_reuses_its_connections(postgres_url: str) -> None:
    """SQLAlchemy's default keeps 5 and closes the rest as they come back: a busy process then
    paid a new server connection (a backend process and a sign-in) for each one beyond."""
    database = Database(postgres_url, pool_size=7)
    try:

        def burst() -> set[int]:
            connections = [database.engine.connect() for _ in range(7)]
            try:
                return {
                    int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    for c in connections
                }
            finally:
                for connection in connections:
                    connection.close()

        first = burst()
        assert len(first) == 7
        assert burst() == first
    finally:
        database.dispose()


def test_the_configured_pool_size_reaches_the_engine(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_DB_POOL_SIZE", "9")
    services = build_services(load_settings(), prefetch_models=False)
    try:
        assert services.infra.database.engine.pool.size() == 9  # type: ignore[attr-defined]
    finally:
        services.close()
