"""The token usage ledger (usage_events), read for quotas and reports.

Entries are written by ChatRepository.finish_reply, in the transaction that finishes the
reply; the ledger is kept apart from messages so deleting a conversation refunds nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, cast, func, literal_column, select

from storage.convert import as_utc
from storage.db import Database
from storage.models import UsageEvent, User
from storage.records import UsageRow


class UsageLedger:
    """Tokens spent, per user, model and time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Usage -------------------------------------------------------------------------------

    def tokens_used(self, user_id: int, since: datetime) -> int:
        """Tokens the user spent from `since` on, deleted conversations included."""
        with self.db.session() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(UsageEvent.total_tokens), 0)).where(
                    UsageEvent.user_id == user_id, UsageEvent.created_at >= as_utc(since)
                )
            )
            return int(total or 0)

    def rows(self, since: datetime, user_id: int | None = None) -> list[UsageRow]:
        """Token totals per UTC day, model and user from `since` on (everyone's when
        `user_id` is None), by day, then username, then model."""
        day = self._utc_day(UsageEvent.created_at)
        query = (
            select(
                day,
                UsageEvent.model,
                UsageEvent.user_id,
                User.username,
                func.sum(UsageEvent.prompt_tokens),
                func.sum(UsageEvent.completion_tokens),
                func.sum(UsageEvent.total_tokens),
                func.count(UsageEvent.id),
            )
            .join(User, User.id == UsageEvent.user_id)
            .where(UsageEvent.created_at >= as_utc(since))
            .group_by(day, UsageEvent.model, UsageEvent.user_id, User.username)
            .order_by(day, User.username, UsageEvent.model)
        )
        if user_id is not None:
            query = query.where(UsageEvent.user_id == user_id)
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [
            UsageRow(
                day=value if isinstance(value, date) else date.fromisoformat(str(value)),
                model=model,
                user_id=owner,
                username=username,
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                total_tokens=int(total or 0),
                replies=int(replies),
            )
            for value, model, owner, username, prompt, completion, total, replies in rows
        ]

    def _utc_day(self, column: Any) -> Any:
        """The UTC calendar day of a stored time, in SQL, so grouping happens in the database.

        SQLite stores UTC digits, so date() suffices; PostgreSQL would otherwise use the
        session's time zone. The zone is a literal, not a parameter: a parameter would be
        bound twice (SELECT and GROUP BY) and PostgreSQL would not see them as one expression.
        """
        dialect = self.db.engine.dialect.name
        if dialect == "sqlite":
            return func.date(column)
        if dialect == "postgresql":
            return cast(func.timezone(literal_column("'UTC'"), column), Date)
        return cast(column, Date)
