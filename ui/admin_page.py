"""Admin: teammates with their usage; create, disable, re-enable, reset, role, quota."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from chatcore.team.usage import period_start
from chatcore.wiring import Services
from storage import UserRecord
from ui.actions import run_action, show_notice
from ui.text import plain

# Success notices name accounts, and a provider or proxy chooses some of those names: each is
# escaped with plain() where it is written.
NOTICE = "admin"
SELECTED = "admin_selected_user"
PERIOD_LABELS = {None: "no quota", "day": "per day", "month": "per month"}


def _create(services: Services, admin: UserRecord) -> None:
    state = st.session_state
    name = state.get("new_username", "").strip()
    run_action(
        NOTICE,
        services.accounts.create_user,
        admin,
        name,
        state.get("new_password", ""),
        state.get("new_role", "member"),
        success=plain(f"Created {name}."),
    )


def _set_quota(services: Services, admin: UserRecord, user: UserRecord) -> None:
    state = st.session_state
    tokens, period = state.get(f"quota_tokens_{user.id}"), state.get(f"quota_period_{user.id}")
    services.accounts.set_quota(admin, user.id, tokens, period)


def _reset_password(services: Services, admin: UserRecord, user: UserRecord) -> None:
    password = st.session_state.get(f"reset_password_{user.id}", "")
    services.accounts.reset_password(admin, user.id, password)


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
                "tokens this month": services.usage.used_since(user.id, month),
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
            on_click=run_action,
            args=(NOTICE, services.accounts.set_role, admin, user.id, new_role),
            kwargs={"success": plain(f"{user.username} is now {new_role}.")},
        )
    with status_col:
        done = "re-enabled" if user.disabled else "disabled"
        st.button(
            "Re-enable" if user.disabled else "Disable (ends their sessions)",
            on_click=run_action,
            args=(NOTICE, services.accounts.set_disabled, admin, user.id, not user.disabled),
            kwargs={"success": plain(f"{user.username} {done}.")},
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
            on_click=run_action,
            args=(NOTICE, _set_quota, services, admin, user),
            kwargs={"success": plain(f"Quota for {user.username} saved.")},
        )
    if user.auth_source == "local":
        with st.form(f"reset-{user.id}", clear_on_submit=True):
            st.text_input("New password", type="password", key=f"reset_password_{user.id}")
            st.form_submit_button(
                "Reset password (ends their sessions)",
                on_click=run_action,
                args=(NOTICE, _reset_password, services, admin, user),
                kwargs={"success": plain(f"Password of {user.username} reset.")},
            )
        # Sign-ins are throttled, never locked: this forgets the account's recent attempts
        # from every address, so whoever was made to wait may try again at once.
        st.button(
            "Clear failed sign-in attempts",
            on_click=run_action,
            args=(NOTICE, services.accounts.clear_sign_in_throttle, admin, user.id),
            kwargs={"success": plain(f"Sign-in attempts for {user.username} cleared.")},
        )


def render(services: Services, admin: UserRecord) -> None:
    if not admin.is_admin:
        st.error("Only administrators can open this page.")
        return
    st.title("Admin", anchor=False)
    # Read like an action: an administrator demoted or disabled meanwhile is told so, once.
    users = run_action(NOTICE, services.accounts.list_users, admin)
    show_notice(NOTICE)
    if users is None:
        return
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
