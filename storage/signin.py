"""Sign-in attempt counters (table signin_attempts), for chatcore/signin_throttle.py.

A count is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the database increments and
reads in a single statement, so concurrent attempts each get their own number and none can
slip under a limit, and a window that has passed restarts at 1 in that same statement. That
statement exists in SQLite (3.35+) and PostgreSQL, the two databases AnyChat supports.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.convert import as_utc
from storage.db import Database, rows_changed
from storage.models import SignInAttempt
from storage.records import AttemptCount

_INSERTS: dict[str, Callable[..., Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class SignInAttemptRepository:
    """Counters keyed by the throttle's hashes; `name_hash` groups an account's keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def count(
        self, key_hash: str, name_hash: str | None, now: datetime, window: timedelta
    ) -> AttemptCount:
        """Count one attempt under `key_hash` and return the count with its window's start."""
        dialect = self.db.engine.dialect.name
        if dialect not in _INSERTS:
            raise NotImplementedError(f"sign-in throttling needs SQLite or PostgreSQL: {dialect}")
        now = as_utc(now)
        fresh = _INSERTS[dialect](SignInAttempt).values(
            key_hash=key_hash, name_hash=name_hash, attempts=1, window_started_at=now
        )
        # Columns of the table are the stored row, `excluded` the row this attempt proposed.
        passed = SignInAttempt.window_started_at <= now - window
        statement = fresh.on_conflict_do_update(
            index_elements=[SignInAttempt.key_hash],
            set_={
                "attempts": case((passed, 1), else_=SignInAttempt.attempts + 1),
                "window_started_at": case(
                    (passed, fresh.excluded.window_started_at),
                    else_=SignInAttempt.window_started_at,
                ),
            },
        ).returning(SignInAttempt.attempts, SignInAttempt.window_started_at)
        with self.db.session() as session:
            attempts, started = session.execute(statement).one()
        return AttemptCount(int(attempts), as_utc(started))

    def refund(self, key_hash: str) -> None:
        """Take one attempt back (a successful sign-in is not held against its address)."""
        with self.db.session() as session:
            session.execute(
                update(SignInAttempt)
                .where(SignInAttempt.key_hash == key_hash, SignInAttempt.attempts > 0)
                .values(attempts=SignInAttempt.attempts - 1)
            )

    def clear(self, key_hashes: Collection[str]) -> None:
        with self.db.session() as session:
            session.execute(delete(SignInAttempt).where(SignInAttempt.key_hash.in_(key_hashes)))

    def clear_name(self, name_hash: str) -> int:
        """Forget every key of one account name; the number of keys forgotten."""
        with self.db.session() as session:
            return rows_changed(
                session.execute(delete(SignInAttempt).where(SignInAttempt.name_hash == name_hash))
            )

    def purge(self, before: datetime) -> int:
        """Delete the counters whose window started before `before` (they restart anyway)."""
        with self.db.session() as session:
            return rows_changed(
                session.execute(
                    delete(SignInAttempt).where(SignInAttempt.window_started_at < as_utc(before))
                )
            )
