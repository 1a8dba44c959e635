"""The Admin page's price list: a table to edit, and the same list as a CSV file both ways
(AnyAPI and most aggregators publish prices as a spreadsheet)."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from chatcore.team.prices import parse_rows
from chatcore.wiring import Services
from storage import UserRecord
from ui.actions import notify, run_action, show_notice
from ui.i18n import _, ngettext

NOTICE = "admin_prices"
VERSION = "admin_prices_version"  # a new table widget after a save or an import: fresh rows
TABLE = "admin_prices_table"
UPLOAD = "admin_prices_upload"


def _cell(value: Any) -> str:
    """An editor cell as parse_rows reads it: empty for a blank one (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _save(services: Services, admin: UserRecord, edited: Any) -> int:
    rows = [
        (_cell(row.model), _cell(row.input), _cell(row.output))
        for row in edited.itertuples(index=False)
    ]
    return len(services.prices.set_prices(admin, parse_rows(rows)))


def _fresh_table() -> None:
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1
    st.rerun()


def _draw_table(services: Services, admin: UserRecord) -> None:
    import pandas as pd  # only the Admin and Usage pages need it

    prices = services.prices.prices()
    frame = pd.DataFrame(
        {
            "model": pd.Series(list(prices), dtype="object"),
            "input": pd.Series([float(p.input_per_million) for p in prices.values()], dtype=float),
            "output": pd.Series(
                [float(p.output_per_million) for p in prices.values()], dtype=float
            ),
        }
    )
    currency = services.prices.currency
    with st.form("prices"):
        edited = st.data_editor(
            frame,
            key=f"{TABLE}_{st.session_state.get(VERSION, 0)}",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config={
                "model": st.column_config.TextColumn(_("Model"), required=True),
                "input": st.column_config.NumberColumn(
                    _("Input per million tokens ({currency})", currency=currency),
                    min_value=0,
                    format="%.4f",
                ),
                "output": st.column_config.NumberColumn(
                    _("Output per million tokens ({currency})", currency=currency),
                    min_value=0,
                    format="%.4f",
                ),
            },
        )
        saved = st.form_submit_button(_("Save prices"), icon=":material/save:")
    if saved:
        count = run_action(NOTICE, _save, services, admin, edited)
        if count is not None:
            notify(
                NOTICE, "success", ngettext("Saved {count} price.", "Saved {count} prices.", count)
            )
            _fresh_table()


def _draw_csv(services: Services, admin: UserRecord) -> None:
    upload = st.file_uploader(
        _("Import a CSV file (columns model, input_per_million, output_per_million)"),
        type=["csv"],
        key=UPLOAD,
    )
    left, right = st.columns(2)
    replace = left.button(
        _("Replace the prices with this file"), icon=":material/upload:", disabled=upload is None
    )
    if replace and upload is not None:
        count = run_action(NOTICE, services.prices.import_csv, admin, upload.getvalue())
        if count is not None:
            notify(
                NOTICE,
                "success",
                ngettext("Imported {count} price.", "Imported {count} prices.", count),
            )
            _fresh_table()
    right.download_button(
        _("Download prices (CSV)"),
        services.prices.export_csv(),
        file_name="anychat-prices.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def draw_prices(services: Services, admin: UserRecord) -> None:
    """What each model costs per million tokens, which every cost on every page is computed
    from; a model left out shows its tokens only."""
    st.subheader(_("Prices"), anchor=False)
    st.caption(
        _(
            "What a million tokens of each model cost in {currency}: sent (input) and received "
            "(output). The model id as the API names it, in any case. A model without a price "
            "shows its tokens only.",
            currency=services.prices.currency,
        )
    )
    show_notice(NOTICE)
    _draw_table(services, admin)
    _draw_csv(services, admin)
