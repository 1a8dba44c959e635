"""Usage: tokens and their cost per day, model and teammate as charts and a table, with a CSV
download."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import streamlit as st

from chatcore.i18n import Translator
from chatcore.team.usage import COLUMN_LABELS, CSV_HEADER, money_spent, usage_csv
from chatcore.team.usage_series import per_day, period_start, row_costs
from chatcore.wiring import Services
from storage import UsageRow, UserRecord
from ui.costs import money
from ui.i18n import N_, _, current
from ui.text import plain

PERIODS = {
    7: N_("Last 7 days"),
    30: N_("Last 30 days"),
    90: N_("Last 90 days"),
    365: N_("Last year"),
}
SCOPES = {"me": N_("Me"), "everyone": N_("Everyone")}


def csv_download(
    rows: list[UsageRow],
    reader: Translator,
    costs: Sequence[Decimal | None] | None = None,
    currency: str = "",
) -> bytes:
    """The report as `reader` downloads it: headers in their language (in the report's column
    order), UTF-8 with a byte-order mark, which spreadsheets (Excel above all) need to read
    Chinese names and headers. With `costs` (the team keeps a price list), a cost column in
    `currency` ends each row."""
    header = [reader.gettext(COLUMN_LABELS[column]) for column in CSV_HEADER]
    if costs is not None:
        header.append(reader.gettext("Cost ({currency})", currency=currency))
    return usage_csv(rows, header, costs).encode("utf-8-sig")


def _draw_quota(services: Services, user: UserRecord, now: datetime) -> None:
    if user.quota_period is None or (user.quota_tokens is None and user.quota_money is None):
        st.caption(_("No quota applies to you."))
        return
    if user.quota_tokens is not None:
        used = services.usage.used_this_period(user, now)
        reader = current()
        st.metric(
            _("Your quota today (UTC)")
            if user.quota_period == "day"
            else _("Your quota this month (UTC)"),
            _(
                "{used} / {limit} tokens",
                used=reader.format_number(used),
                limit=reader.format_number(user.quota_tokens),
            ),
        )
        st.progress(min(used / user.quota_tokens, 1.0))
    if user.quota_money is not None:
        _draw_money_quota(services, user, user.quota_money, now)


def _draw_money_quota(services: Services, user: UserRecord, limit: Decimal, now: datetime) -> None:
    """What the period's replies cost so far against the money quota; models without a price
    count nothing toward it, and the page names them."""
    currency = services.prices.currency
    spent, missing = money_spent(services.prices, services.usage.uses_this_period(user, now))
    st.metric(
        _("Your money quota today (UTC)")
        if user.quota_period == "day"
        else _("Your money quota this month (UTC)"),
        _(
            "{used} / {limit}",
            used=money(spent, currency),
            limit=money(limit, currency),
        ),
    )
    st.progress(float(min(spent / limit, Decimal(1))))
    note = _("Replies of models without a price count nothing toward the money quota.")
    if missing:
        note = _(
            "Replies of models without a price count nothing toward the money quota: {models}.",
            models=", ".join(plain(model) for model in missing),
        )
    st.caption(note)


def render(services: Services, user: UserRecord) -> None:
    st.title(_("Usage"), anchor=False)
    now = datetime.now(UTC)
    _draw_quota(services, user, now)
    reader = current()  # bound for the options' labels, which Streamlit may draw later
    everyone = False
    if user.is_admin:
        scope = st.segmented_control(
            _("Show"),
            list(SCOPES),
            format_func=lambda value: reader.gettext(SCOPES[value]),
            default="me",
            key="usage_scope",
        )
        everyone = scope == "everyone"
    days = st.selectbox(
        _("Period"),
        list(PERIODS),
        format_func=lambda value: reader.gettext(PERIODS[value]),
        index=1,
        key="usage_period",
    )
    start = period_start(days, now)  # whole UTC days, today the last
    rows = services.usage.rows(user, start, everyone=everyone)
    if not rows:
        st.info(_("No tokens used in this period yet."), icon=":material/bar_chart:")
        return
    prices = services.prices
    costs = row_costs(rows, prices.cost)
    total, missing = prices.total_cost(
        (row.model, row.prompt_tokens, row.completion_tokens) for row in rows
    )
    left, right = st.columns(2)
    left.metric(_("Total tokens"), reader.format_number(sum(row.total_tokens for row in rows)))
    if total is not None:
        right.metric(_("Cost"), money(total, prices.currency))
    if missing:
        st.warning(
            _(
                "No price set for: {models}. Their tokens are counted, their cost is not.",
                models=", ".join(plain(model) for model in missing),
            ),
            icon=":material/sell:",
        )
    st.caption(
        _(
            "Costs are computed from the tokens recorded, at today's prices: a price change "
            "changes the cost of past replies too."
        )
    )
    _draw_charts(services, rows, costs, (start.date(), now.date()), everyone=everyone)
    _draw_table(rows, costs, prices.currency)
    st.download_button(
        _("Download CSV"),
        csv_download(rows, reader, costs if prices.in_use() else None, prices.currency),
        file_name=f"anychat-usage-{now:%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def _amount(cost: Decimal | None) -> float | None:
    # Charts and the table draw floats; exact amounts stay Decimal until here.
    return None if cost is None else float(cost)


def _draw_charts(
    services: Services,
    rows: list[UsageRow],
    costs: list[Decimal | None],
    period: tuple[date, date],
    *,
    everyone: bool,
) -> None:
    """Tokens and cost per day, per model and (for everyone's use) per teammate, in tabs.

    Long tables with the reader's column names: the axes, the legend and the tooltips all show
    those names (a wide table would add Streamlit's own "value", "color").
    """
    import pandas as pd  # only this page needs it

    currency = services.prices.currency
    day, model, teammate = (
        _(COLUMN_LABELS["day"]),
        _(COLUMN_LABELS["model"]),
        _(COLUMN_LABELS["user"]),
    )
    tokens, cost = _("Tokens"), _("Cost ({currency})", currency=currency)
    series = per_day(rows, *period, services.prices.cost)
    daily = pd.DataFrame(
        [
            # A category per day (UTC), not a time axis: every day of the period is in the
            # series, so each is one equal bar, an empty day zero.
            {
                day: point.day.isoformat(),
                model: point.model,
                tokens: point.tokens,
                cost: _amount(point.cost),
            }
            for point in series
        ],
        columns=[day, model, tokens, cost],
    )
    used = pd.DataFrame(
        [
            {
                model: row.model,
                teammate: row.username,
                tokens: row.total_tokens,
                cost: _amount(row_cost),
            }
            for row, row_cost in zip(rows, costs, strict=True)
        ],
        columns=[model, teammate, tokens, cost],
    )
    has_cost = any(row_cost is not None for row_cost in costs)
    st.subheader(_("Per day"), anchor=False)
    _tabs(daily, day, tokens, cost, has_cost, color=model)
    st.subheader(_("Per model"), anchor=False)
    _tabs(
        used.groupby(model, as_index=False)[[tokens, cost]].sum(min_count=1),
        model,
        tokens,
        cost,
        has_cost,
        horizontal=True,
    )
    if everyone:
        st.subheader(_("Per teammate"), anchor=False)
        _tabs(
            used.groupby(teammate, as_index=False)[[tokens, cost]].sum(min_count=1),
            teammate,
            tokens,
            cost,
            has_cost,
            horizontal=True,
        )


def _tabs(
    frame: Any,
    x: str,
    tokens: str,
    cost: str,
    has_cost: bool,
    *,
    color: str | None = None,
    horizontal: bool = False,
) -> None:
    """The same grouping twice: its tokens, and its cost (when any model used has a price)."""
    by_tokens, by_cost = st.tabs([tokens, cost])
    with by_tokens:
        st.bar_chart(frame, x=x, y=tokens, color=color, horizontal=horizontal)
    with by_cost:
        if has_cost:
            st.bar_chart(frame, x=x, y=cost, color=color, horizontal=horizontal)
        else:
            st.caption(_("No model used in this period has a price."))


def _draw_table(rows: list[UsageRow], costs: list[Decimal | None], currency: str) -> None:
    import pandas as pd

    labels = {column: _(COLUMN_LABELS[column]) for column in CSV_HEADER}
    cost = _("Cost ({currency})", currency=currency)
    table = pd.DataFrame(
        [
            {
                labels["day"]: row.day.isoformat(),
                labels["user"]: row.username,
                labels["model"]: row.model,
                labels["replies"]: row.replies,
                labels["prompt_tokens"]: row.prompt_tokens,
                labels["completion_tokens"]: row.completion_tokens,
                labels["total_tokens"]: row.total_tokens,
                cost: _amount(row_cost),
            }
            for row, row_cost in zip(rows, costs, strict=True)
        ],
        columns=[*labels.values(), cost],
    )
    # Four places: one day's use of a cheap model is often under a cent.
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={cost: st.column_config.NumberColumn(cost, format="%.4f")},
    )
