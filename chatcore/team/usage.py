"""Token quotas and usage reports, read from the usage ledger the repository keeps."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta

from chatcore.errors import QuotaExceeded
from chatcore.i18n import N_
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
# What a reader sees for each column, in the Usage page's table and in its CSV download
# (translated there): the columns keep CSV_HEADER's order.
COLUMN_LABELS = {
    "day": N_("Day (UTC)"),
    "user": N_("User"),
    "model": N_("Model"),
    "replies": N_("Replies"),
    "prompt_tokens": N_("Prompt tokens"),
    "completion_tokens": N_("Completion tokens"),
    "total_tokens": N_("Total tokens"),
}
# A cell starting with one of these is run as a formula by spreadsheet programs; usernames
# from an identity provider and model names are not ours to trust.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    refuse_over_quota(user, ledger.tokens_used(user.id, period_start(_period(user), now)), now)


def refuse_over_quota(user: UserRecord, used: int, now: datetime) -> None:
    """`check_quota` for a caller that has read `used` already (the tokens spent since the
    start of the user's period): the send path reads it with the account, in one query."""
    if user.quota_tokens is None:
        return
    period = _period(user)
    if used >= user.quota_tokens:
        reset = _next_reset(period, now)
        if period == QuotaPeriod.DAY:
            raise QuotaExceeded(
                N_(
                    "You have used {used:,} of your {limit:,} tokens today; "
                    "the quota resets at midnight UTC."
                ),
                used=used,
                limit=user.quota_tokens,
                period=period,
                resets=reset,
            )
        raise QuotaExceeded(
            N_(
                "You have used {used:,} of your {limit:,} tokens this month; "
                "the quota resets on {reset_date} (UTC)."
            ),
            code="quota_exceeded_month",
            used=used,
            limit=user.quota_tokens,
            period=period,
            resets=reset,
            reset_date=reset.date().isoformat(),
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


def usage_csv(rows: list[UsageRow], header: Sequence[str] = CSV_HEADER) -> str:
    """The usage report as CSV text (RFC 4180 quoting and line ends), under `header`: the
    column names, or the reader's labels for them (COLUMN_LABELS, in CSV_HEADER's order).

    Encode it as UTF-8 with a byte-order mark ("utf-8-sig") for download, or Excel shows
    non-Latin usernames and headers as mojibake.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
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
