"""Token quotas and usage reports, read from the usage ledger the repository keeps."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from chatcore.chat.use_cases import ChatInputError
from storage import UserRecord
from storage.accounts import AccountRepository
from storage.records import UsageRow

PERIODS = ("day", "month")
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


class QuotaExceeded(ChatInputError):
    """The user's token quota for this period is used up; nothing was sent."""


def period_start(period: str, now: datetime) -> datetime:
    """Start of the current quota period in UTC: midnight today, or the 1st of the month.

    UTC for everyone, so a team spread over time zones shares one reset moment.
    """
    if period not in PERIODS:
        raise ValueError(f"Unknown quota period {period!r}; expected 'day' or 'month'.")
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == "month" else start


def _reset_note(period: str, now: datetime) -> str:
    if period == "day":
        return "resets at midnight UTC"
    start = period_start("month", now)
    return f"resets on 1 {_MONTHS[start.month % 12]}"


def _period(user: UserRecord) -> str:
    # A quota stored without a period is read as monthly, the more cautious reading.
    return user.quota_period if user.quota_period in PERIODS else "month"


def remaining(repository: AccountRepository, user: UserRecord, now: datetime) -> int | None:
    """Tokens left in the current period, or None when the user has no quota."""
    if user.quota_tokens is None:
        return None
    used = repository.tokens_used(user.id, period_start(_period(user), now))
    return max(user.quota_tokens - used, 0)


def check_quota(repository: AccountRepository, user: UserRecord, now: datetime) -> None:
    """Refuse a new request once the period's tokens are used up.

    Checked before sending, so the reply that crosses the limit still completes: cutting a
    reply off midway would cost the tokens and deliver nothing.
    """
    if user.quota_tokens is None:
        return
    period = _period(user)
    used = repository.tokens_used(user.id, period_start(period, now))
    if used >= user.quota_tokens:
        when = "today" if period == "day" else "this month"
        raise QuotaExceeded(
            f"You have used {used:,} of your {user.quota_tokens:,} tokens {when}; "
            f"the quota {_reset_note(period, now)}."
        )


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
