"""Admin: teammates with their usage; create, disable, re-enable, reset, role, quota."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from chatcore.team.accounts import AccountError
from chatcore.team.usage import period_start
from chatcore.wiring import Services
from storage import UserRecord
from ui.text import plain

NOTICE = "admin_notice"
SELECTED = "admin_selected_user"
PERIOD_LABELS = {None: "no quota", "day": "per day", "month": "per month"}


def _act(action: Callable[..., Any], *args: Any, done: str) -> None:
    """Run an admin operation from a callback and leave its outcome for the next run."""
    try:
        action(*args)
    except AccountError as exc:
        st.session_state[NOTICE] = ("error", str(exc))
        return
    st.session_state[NOTICE] = ("success", done)


def _create(services: Services, admin: UserRecord) -> None:
    state = st.session_state
    name = state.get("new_username", "").strip()
    _act(
        services.accounts.create_user,
        admin,
        name,
        state.get("new_password", ""),
        state.get("new_role", "member"),
        done=f"Created {name}.",
    )


def _users_table(services: Services, users: list[UserRecord], now: datetime) -> None:
    month = period_start("month", now)
    rows = []
    for user in users:
        rows.append(
            {
                "username": user.username,
                "role": user.role,
                "status": "disabled" if user.disabled else "active",
                "sign-in": user.auth_source,
                "quota": "—"
                if user.quota_tokens is None
                else f"{user.quota_tokens:,} {PERIOD_LABELS[user.quota_period]}",
                "tokens this month": services.account_repository.tokens_used(user.id, month),
                "last sign-in": user.last_login_at,
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch")


def _edit_user(services: Services, admin: UserRecord, user: UserRecord) -> None:
    st.subheader(plain(user.username), anchor=False)
    role_col, status_col = st.columns(2)
    with role_col:
        new_role = "member" if user.is_admin else "admin"
        st.button(
            "Make member" if user.is_admin else "Make administrator",
            on_click=_act,
            args=(services.accounts.set_role, admin, user.id, new_role),
            kwargs={"done": f"{user.username} is now {new_role}."},
        )
    with status_col:
        st.button(
            "Re-enable" if user.disabled else "Disable (ends their sessions)",
            on_click=_act,
            args=(services.accounts.set_disabled, admin, user.id, not user.disabled),
            kwargs={"done": f"{user.username} {'re-enabled' if user.disabled else 'disabled'}."},
        )
    with st.form(f"quota-{user.id}"):
        st.number_input(
            "Token quota (empty: none)",
            min_value=1,
            value=user.quota_tokens,
            step=10_000,
            key=f"quota_tokens_{user.id}",
        )
        st.radio(
            "Per",
            ["day", "month"],
            index=0 if user.quota_period == "day" else 1,
            horizontal=True,
            key=f"quota_period_{user.id}",
        )
        st.form_submit_button(
            "Save quota",
            on_click=lambda: _act(
                services.accounts.set_quota,
                admin,
                user.id,
                st.session_state.get(f"quota_tokens_{user.id}"),
                st.session_state.get(f"quota_period_{user.id}"),
                done=f"Quota for {user.username} saved.",
            ),
        )
    if user.auth_source == "local":
        with st.form(f"reset-{user.id}", clear_on_submit=True):
            st.text_input("New password", type="password", key=f"reset_password_{user.id}")
            st.form_submit_button(
                "Reset password (ends their sessions)",
                on_click=lambda: _act(
                    services.accounts.reset_password,
                    admin,
                    user.id,
                    st.session_state.get(f"reset_password_{user.id}", ""),
                    done=f"Password of {user.username} reset.",
                ),
            )
        # Sign-ins are throttled, never locked: this forgets the account's recent attempts
        # from every address, so whoever was made to wait may try again at once.
        st.button(
            "Clear failed sign-in attempts",
            on_click=_act,
            args=(services.accounts.clear_sign_in_throttle, admin, user.id),
            kwargs={"done": f"Sign-in attempts for {user.username} cleared."},
        )


def render(services: Services, admin: UserRecord) -> None:
    if not admin.is_admin:
        st.error("Only administrators can open this page.")
        return
    st.title("Admin", anchor=False)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        # Escaped: notices name accounts, and a provider or proxy chooses some of those names.
        (st.error if notice[0] == "error" else st.success)(plain(notice[1]))
    users = services.account_repository.list_users()
    _users_table(services, users, datetime.now(UTC))
    by_id = {user.id: user for user in users}
    chosen = st.selectbox(
        "Manage",
        list(by_id),
        format_func=lambda user_id: by_id[user_id].username,
        index=None,
        placeholder="Choose a teammate…",
        key=SELECTED,
    )
    if chosen is not None:
        _edit_user(services, admin, by_id[chosen])
    if services.settings.auth_mode == "local":
        st.subheader("Add a teammate", anchor=False)
        with st.form("new_user", clear_on_submit=True):
            st.text_input("Username", key="new_username")
            st.text_input("Password", type="password", key="new_password")
            st.radio("Role", ["member", "admin"], horizontal=True, key="new_role")
            st.form_submit_button("Create", on_click=_create, args=(services, admin))
