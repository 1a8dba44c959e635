"""The Usage page's figures over a whole period: every day present, a quiet day as zero.

A chart drawn from the ledger's rows alone has a bar only for days with use, so one busy
day fills the page and a gap of a week is invisible; the series here hold every day of the
period, for every model used in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from storage.records import UsageRow

# What some tokens of a model cost, or None when the model has no price (PriceList.cost).
CostOf = Callable[[str, int, int], Decimal | None]


@dataclass(frozen=True, slots=True)
class DayTotal:
    """One model's use on one UTC day; `cost` is None when the model has no price."""

    day: date
    model: str
    tokens: int
    cost: Decimal | None


def period_start(days: int, now: datetime) -> datetime:
    """Midnight (UTC) starting a period of `days` whole days that ends today."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return datetime.combine(first, time(), tzinfo=UTC)


def period_days(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def per_day(rows: Iterable[UsageRow], first: date, last: date, cost: CostOf) -> list[DayTotal]:
    """Tokens and cost per day and model, for every day of the period and every model used in
    it (zero where that model was not used that day), days in order, models by name."""
    used: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        if first <= row.day <= last:
            totals = used[(row.day, row.model)]
            totals[0] += row.prompt_tokens
            totals[1] += row.completion_tokens
            totals[2] += row.total_tokens
    models = sorted({model for _day, model in used})
    series = []
    for day in period_days(first, last):
        for model in models:
            prompt, completion, total = used.get((day, model), (0, 0, 0))
            series.append(DayTotal(day, model, total, cost(model, prompt, completion)))
    return series


def row_costs(rows: Iterable[UsageRow], cost: CostOf) -> list[Decimal | None]:
    """Each ledger row's cost at today's prices, in the rows' order."""
    return [cost(row.model, row.prompt_tokens, row.completion_tokens) for row in rows]
