"""The token usage ledger (usage_events), read for quotas and reports.

Entries are written by ChatRepository.finish_reply, in the transaction that finishes the
reply; the ledger is kept apart from messages so deleting a conversation refunds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Select, bindparam, case, cast, func, literal_column, select

from storage.convert import as_utc, user_record
from storage.db import Database
from storage.models import PersonalKey, UsageEvent, User
from storage.records import QuotaPeriod, UsageRow, UserRecord


@dataclass(frozen=True, slots=True)
class Admission:
    """What deciding whether someone may send needs, as it is now."""

    user: UserRecord
    key_ciphertext: str | None  # their personal API key, still encrypted
    tokens_used: int  # in their current quota period; 0 when they have no quota


def _admission_statement() -> Select[Any]:
    """Account :user_id, its key's ciphertext and the tokens of its quota period, for
    :day_start and :month_start. Built once: composing it costs more
    than running it."""
    stored = UsageEvent.created_at.type  # so SQLite compares the text it stores
    since = case(
        (User.quota_period == QuotaPeriod.DAY.value, bindparam("day_start", type_=stored)),
        else_=bindparam("month_start", type_=stored),
    )
    used = (
        select(func.coalesce(func.sum(UsageEvent.total_tokens), 0))
        .where(UsageEvent.user_id == User.id, UsageEvent.created_at >= since)
        .correlate(User)
        .scalar_subquery()
    )
    return (
        select(User, PersonalKey.ciphertext, case((User.quota_tokens.is_(None), 0), else_=used))
        .outerjoin(PersonalKey, PersonalKey.user_id == User.id)
        .where(User.id == bindparam("user_id"))
    )


ADMISSION = _admission_statement()


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

    def tokens_by_model(self, user_id: int, since: datetime) -> list[tuple[str, int, int]]:
        """(model, prompt tokens, completion tokens) the user spent from `since` on, per model
        and in one grouped query: what a money quota prices, each model at its own price."""
        query = (
            select(
                UsageEvent.model,
                func.sum(UsageEvent.prompt_tokens),
                func.sum(UsageEvent.completion_tokens),
            )
            .where(UsageEvent.user_id == user_id, UsageEvent.created_at >= as_utc(since))
            .group_by(UsageEvent.model)
            .order_by(UsageEvent.model)
        )
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [
            (model, int(prompt or 0), int(completion or 0)) for model, prompt, completion in rows
        ]

    def admission(
        self, user_id: int, *, day_start: datetime, month_start: datetime
    ) -> Admission | None:
        """The account, its personal key and its quota period's usage in one query: every send
        asks, and three round trips cost more than the answer. The period's start is chosen
        in SQL from the stored period (a day quota counts from `day_start`; anything else, as
        `chatcore.team.usage` reads it, from `month_start`), and the ledger is summed only for
        an account with a quota. None when there is no such account."""
        values = {
            "user_id": user_id,
            "day_start": as_utc(day_start),
            "month_start": as_utc(month_start),
        }
        with self.db.session() as session:
            found = session.execute(ADMISSION, values).first()
            if found is None:
                return None
            user, ciphertext, tokens = found
            return Admission(user_record(user), ciphertext, int(tokens or 0))

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
