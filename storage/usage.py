"""The token usage ledger (usage_events), read for quotas and reports.

Entries are written by ChatRepository.finish_reply, in the transaction that finishes the
reply; the ledger is kept apart from messages so deleting a conversation refunds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Row, Select, Table, bindparam, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

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
    # (model, prompt tokens, completion tokens) in that period, per model: read only for an
    # account with a money quota, which prices each model apart.
    model_uses: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Gate:
    """A send's admission, decided inside the transaction that writes the message: the facts
    are read there (the quota periods start at `day_start` and `month_start`), and `decide`
    raises to refuse, which rolls back everything the transaction wrote. What it returns (the
    key to send with) comes back with what was written.

    One transaction instead of a read before it: the account is still checked as it is at
    that moment, and a send pays for one connection checkout and commit, not two."""

    day_start: datetime
    month_start: datetime
    decide: Callable[[Admission | None], str | None]

    def admit(self, session: Session, user_id: int) -> str | None:
        return self.decide(_read_admission(session, user_id, self.day_start, self.month_start))

    def values(self, user_id: int) -> dict[str, Any]:
        """ADMISSION's parameters, for a statement that reads its columns with more."""
        return admission_values(user_id, self.day_start, self.month_start)

    def admit_from(self, session: Session, row: Row[Any] | None) -> str | None:
        """The decision on a row holding ADMISSION's columns (None: no such account)."""
        return self.decide(_admission_from(session, row, self.day_start, self.month_start))


_USERS: Table = User.__table__  # type: ignore[assignment]
_KEYS: Table = PersonalKey.__table__  # type: ignore[assignment]
_EVENTS: Table = UsageEvent.__table__  # type: ignore[assignment]
# What an account record holds (storage/convert.py user_record): not the password hash.
_ACCOUNT = tuple(
    _USERS.c[name]
    for name in (
        "id",
        "username",
        "display_name",
        "role",
        "disabled",
        "auth_source",
        "email",
        "quota_tokens",
        "quota_period",
        "last_login_at",
        "created_at",
        "language",
        "quota_money",
    )
)


def _admission_statement() -> Select[Any]:
    """Account :account, its key's ciphertext and the tokens of its quota period, for
    :day_start and :month_start. Built once: composing it costs more than running it. Table
    columns, not the ORM's: no entity is loaded, and a statement that reads these columns
    with others runs as Core (the ORM's execution path costs more than the query)."""
    users, keys, events = _USERS.c, _KEYS.c, _EVENTS.c
    stored = events.created_at.type  # so SQLite compares the text it stores
    since = case(
        (users.quota_period == QuotaPeriod.DAY.value, bindparam("day_start", type_=stored)),
        else_=bindparam("month_start", type_=stored),
    )
    used = (
        select(func.coalesce(func.sum(events.total_tokens), 0))
        .where(events.user_id == users.id, events.created_at >= since)
        .correlate(_USERS)
        .scalar_subquery()
    )
    return (
        select(
            *_ACCOUNT,
            keys.ciphertext.label("key_ciphertext"),
            case((users.quota_tokens.is_(None), 0), else_=used).label("tokens_used"),
        )
        .select_from(_USERS.outerjoin(_KEYS, keys.user_id == users.id))
        .where(users.id == bindparam("account"))
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
        with self.db.session() as session:
            return _tokens_by_model(session, user_id, since)

    def admission(
        self, user_id: int, *, day_start: datetime, month_start: datetime
    ) -> Admission | None:
        """The account, its personal key and its quota period's usage in one query: every send
        asks, and three round trips cost more than the answer. The period's start is chosen
        in SQL from the stored period (a day quota counts from `day_start`; anything else, as
        `chatcore.team.usage` reads it, from `month_start`), and the ledger is summed only for
        an account with a quota. None when there is no such account."""
        with self.db.session() as session:
            return _read_admission(session, user_id, day_start, month_start)

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


def _read_admission(
    session: Session, user_id: int, day_start: datetime, month_start: datetime
) -> Admission | None:
    """`UsageLedger.admission` in a transaction already open."""
    found = session.execute(ADMISSION, admission_values(user_id, day_start, month_start))
    return _admission_from(session, found.first(), day_start, month_start)


def admission_values(user_id: int, day_start: datetime, month_start: datetime) -> dict[str, Any]:
    """ADMISSION's parameters; none is named as a column is (see storage/chats.py)."""
    return {"account": user_id, "day_start": as_utc(day_start), "month_start": as_utc(month_start)}


def _admission_from(
    session: Session, row: Row[Any] | None, day_start: datetime, month_start: datetime
) -> Admission | None:
    """The facts in a row holding ADMISSION's columns; a money quota's uses read apart."""
    if row is None:
        return None
    found = row._mapping
    user = user_record(User(**{column.name: found[column.name] for column in _ACCOUNT}))
    uses: tuple[tuple[str, int, int], ...] = ()
    if user.quota_money is not None:  # the same period as the tokens' (chatcore.team.usage)
        since = day_start if user.quota_period == QuotaPeriod.DAY else month_start
        uses = tuple(_tokens_by_model(session, user.id, since))
    return Admission(user, found["key_ciphertext"], int(found["tokens_used"] or 0), uses)


def _tokens_by_model(session: Session, user_id: int, since: datetime) -> list[tuple[str, int, int]]:
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
    rows = session.execute(query).all()
    return [(model, int(prompt or 0), int(completion or 0)) for model, prompt, completion in rows]
