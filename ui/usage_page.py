"""Usage: tokens per day and per model as charts and a table, with a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from chatcore.i18n import Translator
from chatcore.team.usage import COLUMN_LABELS, CSV_HEADER, usage_csv
from chatcore.wiring import Services
from storage import UsageRow, UserRecord
from ui.i18n import N_, _, current

PERIODS = {
    7: N_("Last 7 days"),
    30: N_("Last 30 days"),
    90: N_("Last 90 days"),
    365: N_("Last year"),
}
SCOPES = {"me": N_("Me"), "everyone": N_("Everyone")}


def csv_download(rows: list[UsageRow], reader: Translator) -> bytes:
    """The report as `reader` downloads it: headers in their language (in the report's column
    order), UTF-8 with a byte-order mark, which spreadsheets (Excel above all) need to read
    Chinese names and headers."""
    header = [reader.gettext(COLUMN_LABELS[column]) for column in CSV_HEADER]
    return usage_csv(rows, header).encode("utf-8-sig")


def _draw_quota(services: Services, user: UserRecord, now: datetime) -> None:
    if user.quota_tokens is None or user.quota_period is None:
        st.caption(_("No token quota applies to you."))
        return
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
    rows = services.usage.rows(user, now - timedelta(days=days), everyone=everyone)
    if not rows:
        st.info(_("No tokens used in this period yet."), icon=":material/bar_chart:")
        return
    import pandas as pd  # only this page needs it

    table = pd.DataFrame(
        [
            {
                "day": row.day.isoformat(),  # a category per day (UTC), not a time axis
                "user": row.username,
                "model": row.model,
                "replies": row.replies,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "total_tokens": row.total_tokens,
            }
            for row in rows
        ],
        columns=list(CSV_HEADER),
    )
    st.metric(_("Total tokens"), reader.format_number(int(table["total_tokens"].sum())))
    # Charts from long tables with the reader's column names: the axes, the legend and the
    # tooltips all show those names (a wide table would add Streamlit's own "value", "color").
    labels = {column: _(COLUMN_LABELS[column]) for column in CSV_HEADER}
    named = table.rename(columns=labels)
    day, model, teammate, tokens = (
        labels["day"],
        labels["model"],
        labels["user"],
        labels["total_tokens"],
    )
    st.subheader(_("Tokens per day"), anchor=False)
    per_day = named.groupby([day, model], as_index=False, sort=True)[tokens].sum()
    st.bar_chart(per_day, x=day, y=tokens, color=model)
    st.subheader(_("Tokens per model"), anchor=False)
    per_model = named.groupby(model, as_index=False)[tokens].sum()
    st.bar_chart(per_model, x=model, y=tokens, horizontal=True)
    if everyone:
        st.subheader(_("Tokens per teammate"), anchor=False)
        per_teammate = named.groupby(teammate, as_index=False)[tokens].sum()
        st.bar_chart(per_teammate, x=teammate, y=tokens, horizontal=True)
    st.dataframe(named, hide_index=True, width="stretch")
    st.download_button(
        _("Download CSV"),
        csv_download(rows, reader),
        file_name=f"anychat-usage-{now:%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
