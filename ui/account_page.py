"""Account: my password (local sign-in) and my personal API key."""

from __future__ import annotations

import streamlit as st

from chatcore.errors import AccountError
from chatcore.wiring import Services
from storage import UserRecord
from ui.actions import run_action, show_notice
from ui.auth import client_address, session_token
from ui.text import plain

NOTICE = "account"


def _change_password(services: Services, user: UserRecord) -> None:
    state = st.session_state
    if state.get("pw_new") != state.get("pw_repeat"):
        raise AccountError("The new passwords differ.", code="passwords_differ")
    services.accounts.change_own_password(
        user,
        state.get("pw_current", ""),
        state["pw_new"],
        keep_token=session_token(),
        address=client_address(),
    )


def _save_key(services: Services, user: UserRecord) -> None:
    services.keys.save(user.id, st.session_state.get("personal_key", ""))
    st.session_state["personal_key"] = ""  # never shown again, not even in the form


def render(services: Services, user: UserRecord) -> None:
    st.title("Account", anchor=False)
    show_notice(NOTICE)
    st.markdown(
        # No code span around the username: backslash escapes would show inside one.
        f"**{plain(user.display_name or user.username)}** · {plain(user.username)} · "
        f"{'administrator' if user.is_admin else 'member'}"
    )

    st.subheader("Personal API key", anchor=False)
    if services.keys.has(user.id):
        st.write("A personal key is saved (encrypted). Your requests use it instead of the team's.")
        st.button(
            "Remove my key",
            on_click=run_action,
            args=(NOTICE, services.keys.remove, user.id),
            kwargs={"success": "Personal key removed; the team's key applies again."},
        )
    else:
        st.write(
            "Your requests use the team's key. Add your own AnyAPI key to be billed "
            "separately; it is stored encrypted and never shown again."
        )
    with st.form("personal_key_form", clear_on_submit=True):
        st.text_input("AnyAPI key", type="password", key="personal_key")
        st.form_submit_button(
            "Save key",
            on_click=run_action,
            args=(NOTICE, _save_key, services, user),
            kwargs={"success": "Personal key saved. Your requests now use it."},
        )

    if services.settings.auth_mode == "local" and user.auth_source == "local":
        st.subheader("Password", anchor=False)
        with st.form("password_form", clear_on_submit=True):
            st.text_input("Current password", type="password", key="pw_current")
            st.text_input("New password", type="password", key="pw_new")
            st.text_input("Repeat the new password", type="password", key="pw_repeat")
            st.form_submit_button(
                "Change password",
                on_click=run_action,
                args=(NOTICE, _change_password, services, user),
                kwargs={"success": "Password changed. Other sessions were signed out."},
            )
