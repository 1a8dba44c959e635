"""Who is using this page, under the configured sign-in mode (ANYCHAT_AUTH).

The HTTP guard (web/guard.py) already keeps anonymous visitors out in local and proxy modes;
this resolves the account on every run, so a session ended elsewhere (sign-out in another tab,
an administrator disabling the account) stops at the next click.
"""

from __future__ import annotations

import streamlit as st

from chatcore.services import Services
from storage import UserRecord
from ui.text import plain
from web.context import SESSION_COOKIE, base_path


def _oidc_user(services: Services) -> UserRecord | None:
    if not st.user.is_logged_in:
        return None
    claims = st.user.to_dict()
    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
    return services.accounts.external_user(
        name,
        source="oidc",
        display_name=str(claims.get("name") or ""),
        email=claims.get("email"),
    )


def _resolve(services: Services) -> UserRecord | None:
    mode = services.settings.auth_mode
    if mode == "none":
        return services.local_user
    if mode == "proxy":
        name = (st.context.headers.get(services.settings.proxy_header) or "").strip()
        return services.accounts.external_user(name, source="proxy") if name else None
    if mode == "oidc":
        return _oidc_user(services)
    return services.accounts.user_for_token(st.context.cookies.get(SESSION_COOKIE))


def signed_in_user(services: Services) -> UserRecord:
    """The account, or a sign-in prompt and a stop."""
    user = _resolve(services)
    if user is not None and not user.disabled:
        return user
    st.title("AnyChat", anchor=False)
    if services.settings.auth_mode == "oidc" and not st.user.is_logged_in:
        st.write("Sign in with your organisation's account to continue.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    elif services.settings.auth_mode == "proxy":
        st.error(
            f"The reverse proxy did not name a user (header {services.settings.proxy_header}), "
            "or the account is disabled."
        )
    elif services.settings.auth_mode == "oidc":  # signed in with the provider, refused here
        st.error("Your account is disabled, or belongs to another sign-in method.")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout)
    else:
        st.warning("You are signed out, or your account was disabled.")
        # A plain link: same tab (st.link_button would open a new one).
        st.html(f'<a href="{base_path()}/signin" target="_self">Sign in again</a>')
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def draw_sign_out(services: Services, user: UserRecord) -> None:
    """The signed-in name and the way out, where the mode has one."""
    mode = services.settings.auth_mode
    if mode == "none":
        return
    st.caption(f"Signed in as **{plain(user.display_name or user.username)}**")
    if mode == "local":
        # A plain same-tab link: /signout deletes the session and the cookie, then shows the
        # sign-in form here (st.link_button would open a new tab and leave this one signed in).
        st.html(
            f'<a href="{base_path()}/signout" target="_self" class="anychat-signout">Sign out</a>'
        )
    elif mode == "oidc":
        st.button("Sign out", icon=":material/logout:", on_click=st.logout)
