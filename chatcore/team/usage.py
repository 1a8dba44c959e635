"""Token and money quotas and usage reports, read from the usage ledger the repository keeps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from babel.numbers import get_currency_precision

from chatcore.errors import QuotaExceeded
from chatcore.i18n import N_
from chatcore.team.csv_cells import guarded
from chatcore.team.prices import PriceList, shown_amount
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


def quota_period_start(user: UserRecord, now: datetime) -> datetime:
    """Start of the user's own quota period (tokens and money share it), UTC."""
    return period_start(_period(user), now)


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


def money_spent(
    prices: PriceList, uses: Iterable[tuple[str, int, int]]
) -> tuple[Decimal, list[str]]:
    """What (model, prompt tokens, completion tokens) uses cost against a money quota, and the
    models without a price. A model without a price counts nothing: its tokens are not free,
    but no figure for them exists, and guessing one would refuse people on a made-up sum (the
    token quota, if set, still counts them; the Usage page names those models)."""
    cost, unpriced = prices.total_cost(uses)
    return cost or Decimal(0), unpriced


def _amount_text(amount: Decimal, currency: str) -> str:
    """`amount` as a page rounds it (shown_amount), without the zeros that rounding adds past
    the currency's minor unit: 0.30, not 0.3000; 0.0123 stays."""
    places = get_currency_precision(currency)
    shown = shown_amount(amount, currency)
    trimmed = shown.normalize()
    exponent = trimmed.as_tuple().exponent
    finer = isinstance(exponent, int) and -exponent > places
    return f"{trimmed if finer else shown.quantize(Decimal(1).scaleb(-places)):f}"


def refuse_over_money_quota(user: UserRecord, spent: Decimal, currency: str, now: datetime) -> None:
    """Refuse a new request once the period's replies cost the money quota or more: checked
    before sending, like the token quota, so the reply that crosses it still completes.

    The amounts travel as text rounded as a page shows them (Decimal is not JSON), with the
    currency's ISO code, which reads the same in every language."""
    limit = user.quota_money
    if limit is None or spent < limit:
        return
    period = _period(user)
    reset = _next_reset(period, now)
    used, most = _amount_text(spent, currency), _amount_text(limit, currency)
    if period == QuotaPeriod.DAY:
        raise QuotaExceeded(
            N_(
                "You have spent {used} {currency} of your {limit} {currency} quota today; "
                "the quota resets at midnight UTC."
            ),
            code="quota_money_exceeded",
            used=used,
            limit=most,
            currency=currency,
            period=period.value,
            resets=reset.isoformat(),
        )
    raise QuotaExceeded(
        N_(
            "You have spent {used} {currency} of your {limit} {currency} quota this month; "
            "the quota resets on {reset_date} (UTC)."
        ),
        code="quota_money_exceeded_month",
        used=used,
        limit=most,
        currency=currency,
        period=period.value,
        resets=reset.isoformat(),
        reset_date=reset.date().isoformat(),
    )


class UsageReports:
    """Token usage as the Usage and Admin pages show it, read from the ledger."""

    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    def used_this_period(self, user: UserRecord, now: datetime) -> int:
        """Tokens counted against the user's quota so far (its period, or this month)."""
        return self._ledger.tokens_used(user.id, quota_period_start(user, now))

    def uses_this_period(self, user: UserRecord, now: datetime) -> list[tuple[str, int, int]]:
        """(model, prompt tokens, completion tokens) of the user's quota period so far, for
        pricing against a money quota (`money_spent`)."""
        return self._ledger.tokens_by_model(user.id, quota_period_start(user, now))

    def used_since(self, user_id: int, since: datetime) -> int:
        return self._ledger.tokens_used(user_id, since)

    def rows(self, viewer: UserRecord, since: datetime, *, everyone: bool) -> list[UsageRow]:
        """Per day, user and model; everyone's only for an administrator."""
        return self._ledger.rows(since, None if everyone and viewer.is_admin else viewer.id)


def usage_csv(
    rows: list[UsageRow],
    header: Sequence[str] = CSV_HEADER,
    costs: Sequence[Decimal | None] | None = None,
) -> str:
    """The usage report as CSV text (RFC 4180 quoting and line ends), under `header`: the
    column names, or the reader's labels for them (COLUMN_LABELS, in CSV_HEADER's order).
    With `costs` (each row's, in order; None for a model without a price, left empty) the
    last column is the cost, exact: a spreadsheet sums it without rounding twice, and the
    header's last name is its label.

    Encode it as UTF-8 with a byte-order mark ("utf-8-sig") for download, or Excel shows
    non-Latin usernames and headers as mojibake.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for index, row in enumerate(rows):
        cells: list[object] = [
            row.day.isoformat(),
            guarded(row.username),
            guarded(row.model),
            row.replies,
            row.prompt_tokens,
            row.completion_tokens,
            row.total_tokens,
        ]
        if costs is not None:
            cost = costs[index]
            cells.append("" if cost is None else format(cost.normalize(), "f"))
        writer.writerow(cells)
    return buffer.getvalue()
