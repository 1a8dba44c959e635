"""Token quotas and usage reports, read from the usage ledger the repository keeps."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from chatcore.errors import QuotaExceeded
from storage import UserRecord
from storage.convert import as_utc
from storage.records import QuotaPeriod, UsageRow
from storage.usage import UsageLedger

CSV_HEADER = (
    "day",
    "user",
    "model",
    "replies",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)
# A cell starting with one of these is run as a formula by spreadsheet programs; usernames
# from an identity provider and model names are not ours to trust.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def period_start(period: str, now: datetime) -> datetime:
    """Start of the current quota period in UTC: midnight today, or the 1st of the month.

    UTC for everyone, so a team spread over time zones shares one reset moment.
    """
    if period not in set(QuotaPeriod):
        raise ValueError(f"Unknown quota period {period!r}; expected 'day' or 'month'.")
    start = as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == QuotaPeriod.MONTH else start


def _next_reset(period: str, now: datetime) -> datetime:
    """When the current quota period ends: the next midnight, or the 1st of next month (UTC)."""
    start = period_start(period, now)
    if period == QuotaPeriod.DAY:
        return start + timedelta(days=1)
    return (start + timedelta(days=32)).replace(day=1)


def _reset_note(period: str, reset: datetime) -> str:
    if period == QuotaPeriod.DAY:
        return "resets at midnight UTC"
    return f"resets on 1 {_MONTHS[reset.month - 1]}"


def _period(user: UserRecord) -> QuotaPeriod:
    # A quota stored without a period is read as monthly, the more cautious reading.
    period = user.quota_period
    return QuotaPeriod(period) if period in set(QuotaPeriod) else QuotaPeriod.MONTH


def remaining(ledger: UsageLedger, user: UserRecord, now: datetime) -> int | None:
    """Tokens left in the current period, or None when the user has no quota."""
    if user.quota_tokens is None:
        return None
    used = ledger.tokens_used(user.id, period_start(_period(user), now))
    return max(user.quota_tokens - used, 0)


def check_quota(ledger: UsageLedger, user: UserRecord, now: datetime) -> None:
    """Refuse a new request once the period's tokens are used up.

    Checked before sending, so the reply that crosses the limit still completes: cutting a
    reply off midway would cost the tokens and deliver nothing.
    """
    if user.quota_tokens is None:
        return
    period = _period(user)
    used = ledger.tokens_used(user.id, period_start(period, now))
    if used >= user.quota_tokens:
        when = "today" if period == QuotaPeriod.DAY else "this month"
        reset = _next_reset(period, now)
        raise QuotaExceeded(
            f"You have used {used:,} of your {user.quota_tokens:,} tokens {when}; "
            f"the quota {_reset_note(period, reset)}.",
            used=used,
            limit=user.quota_tokens,
            period=period,
            resets=reset,
        )


class UsageReports:
    """Token usage as the Usage and Admin pages show it, read from the ledger."""

    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    def used_this_period(self, user: UserRecord, now: datetime) -> int:
        """Tokens counted against the user's quota so far (its period, or this month)."""
        return self._ledger.tokens_used(user.id, period_start(_period(user), now))

    def used_since(self, user_id: int, since: datetime) -> int:
        return self._ledger.tokens_used(user_id, since)

    def rows(self, viewer: UserRecord, since: datetime, *, everyone: bool) -> list[UsageRow]:
        """Per day, user and model; everyone's only for an administrator."""
        return self._ledger.rows(since, None if everyone and viewer.is_admin else viewer.id)


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def usage_csv(rows: list[UsageRow]) -> str:
    """The usage report as CSV text (RFC 4180 quoting and line ends).

    Encode it as UTF-8 with a byte-order mark ("utf-8-sig") for download, or Excel shows
    non-Latin usernames as mojibake.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.day.isoformat(),
                _cell(row.username),
                _cell(row.model),
                row.replies,
                row.prompt_tokens,
                row.completion_tokens,
                row.total_tokens,
            )
        )
    return buffer.getvalue()
