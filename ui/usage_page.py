"""Usage: tokens per day and per model as charts and a table, with a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from chatcore.team.usage import usage_csv
from chatcore.wiring import Services
from storage import UserRecord

PERIODS = {7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days", 365: "Last year"}


def _draw_quota(services: Services, user: UserRecord, now: datetime) -> None:
    if user.quota_tokens is None or user.quota_period is None:
        st.caption("No token quota applies to you.")
        return
    used = services.usage.used_this_period(user, now)
    label = "today (UTC)" if user.quota_period == "day" else "this month"
    st.metric(f"Your quota {label}", f"{used:,} / {user.quota_tokens:,} tokens")
    st.progress(min(used / user.quota_tokens, 1.0))


def render(services: Services, user: UserRecord) -> None:
    st.title("Usage", anchor=False)
    now = datetime.now(UTC)
    _draw_quota(services, user, now)
    everyone = False
    if user.is_admin:
        everyone = st.segmented_control("Show", ["Me", "Everyone"], default="Me") == "Everyone"
    days = st.selectbox("Period", list(PERIODS), format_func=PERIODS.__getitem__, index=1)
    rows = services.usage.rows(user, now - timedelta(days=days), everyone=everyone)
    if not rows:
        st.info("No tokens used in this period yet.", icon=":material/bar_chart:")
        return
    import pandas as pd  # only this page needs it

    table = pd.DataFrame(
        [
            {
                "day": row.day.isoformat(),  # a category per day, not a time axis
                "user": row.username,
                "model": row.model,
                "replies": row.replies,
                "prompt tokens": row.prompt_tokens,
                "completion tokens": row.completion_tokens,
                "total tokens": row.total_tokens,
            }
            for row in rows
        ]
    )
    st.metric("Total tokens", f"{int(table['total tokens'].sum()):,}")
    st.subheader("Tokens per day", anchor=False)
    per_day = table.pivot_table(
        index="day", columns="model", values="total tokens", aggfunc="sum", fill_value=0
    )
    st.bar_chart(per_day)
    st.subheader("Tokens per model", anchor=False)
    st.bar_chart(table.groupby("model")["total tokens"].sum(), horizontal=True)
    if everyone:
        st.subheader("Tokens per teammate", anchor=False)
        st.bar_chart(table.groupby("user")["total tokens"].sum(), horizontal=True)
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(
        "Download CSV",
        usage_csv(rows).encode("utf-8-sig"),  # the BOM lets spreadsheets read Chinese names
        file_name=f"anychat-usage-{now:%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
