"""Account: my interface language, my password (local sign-in) and my personal API key."""

from __future__ import annotations

import streamlit as st
from babel import Locale, UnknownLocaleError

from chatcore.errors import AccountError
from chatcore.i18n import AUTO, languages
from chatcore.wiring import Services
from storage import UserRecord
from ui.actions import notify, run_action, show_notice
from ui.admin_page import ROLE_LABELS
from ui.auth import account_changed, client_address, session_token
from ui.i18n import N_, _, activate
from ui.text import plain
from ui.transfer import draw_data_section

NOTICE = "account"
LANGUAGE = "account_language"
# Each language is offered in its own name, so whoever cannot read the current one finds theirs.
OWN_NAMES = {"en": "English", "zh_CN": "简体中文"}


def own_name(language: str) -> str:
    """A language as its readers call it ("简体中文"), whatever language the page is in."""
    if language in OWN_NAMES:
        return OWN_NAMES[language]
    try:
        return Locale.parse(language).get_display_name(language) or language
    except (ValueError, UnknownLocaleError):
        return language


def _choose_language(services: Services, user: UserRecord) -> None:
    choice = st.session_state.get(LANGUAGE, AUTO)
    updated = run_action(
        NOTICE, services.accounts.set_language, user, None if choice == AUTO else choice
    )
    if updated is None:
        return
    # This very run is drawn in the new language: the account the page reads is refreshed,
    # and the language decided again before the page script starts.
    account_changed(updated)
    activate(services.settings, updated)
    notify(NOTICE, "success", _("Language saved."))


def _change_password(services: Services, user: UserRecord) -> None:
    state = st.session_state
    if state.get("pw_new") != state.get("pw_repeat"):
        raise AccountError(N_("The new passwords differ."), code="passwords_differ")
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


def _draw_language(services: Services, user: UserRecord) -> None:
    choices = [AUTO, *languages()]
    chosen = user.language if user.language in choices else AUTO
    follow = _("Follow the browser")  # bound now: Streamlit may format the options later
    st.selectbox(
        _("Language"),
        choices,
        index=choices.index(chosen),
        format_func=lambda choice: follow if choice == AUTO else own_name(choice),
        key=LANGUAGE,
        help=_("The language of AnyChat on every device you sign in from."),
        on_change=_choose_language,
        args=(services, user),
    )


def render(services: Services, user: UserRecord) -> None:
    st.title(_("Account"), anchor=False)
    show_notice(NOTICE)
    st.markdown(
        # No code span around the username: backslash escapes would show inside one.
        _(
            "**{name}** · {username} · {role}",
            name=plain(user.display_name or user.username),
            username=plain(user.username),
            role=_(ROLE_LABELS["admin" if user.is_admin else "member"]),
        )
    )
    _draw_language(services, user)

    st.subheader(_("Personal API key"), anchor=False)
    if services.keys.has(user.id):
        st.write(
            _("A personal key is saved (encrypted). Your requests use it instead of the team's.")
        )
        st.button(
            _("Remove my key"),
            on_click=run_action,
            args=(NOTICE, services.keys.remove, user.id),
            kwargs={"success": _("Personal key removed; the team's key applies again.")},
        )
    else:
        st.write(
            _(
                "Your requests use the team's key. Add your own AnyAPI key to be billed "
                "separately; it is stored encrypted and never shown again."
            )
        )
    with st.form("personal_key_form", clear_on_submit=True):
        st.text_input(_("AnyAPI key"), type="password", key="personal_key")
        st.form_submit_button(
            _("Save key"),
            on_click=run_action,
            args=(NOTICE, _save_key, services, user),
            kwargs={"success": _("Personal key saved. Your requests now use it.")},
        )

    if services.settings.auth_mode == "local" and user.auth_source == "local":
        st.subheader(_("Password"), anchor=False)
        with st.form("password_form", clear_on_submit=True):
            st.text_input(_("Current password"), type="password", key="pw_current")
            st.text_input(_("New password"), type="password", key="pw_new")
            st.text_input(_("Repeat the new password"), type="password", key="pw_repeat")
            st.form_submit_button(
                _("Change password"),
                on_click=run_action,
                args=(NOTICE, _change_password, services, user),
                kwargs={"success": _("Password changed. Other sessions were signed out.")},
            )

    draw_data_section(services, user)
