"""Who is using this page, under the configured sign-in mode (ANYCHAT_AUTH).

In local and proxy modes the HTTP guard (web/guard.py) has already decided who the websocket
belongs to, and re-checks it at every message the tab sends; a page only reads that decision,
never the cookie or the proxy header itself. Every page script resolves its user on its own
(through `signed_in_user`), so no page depends on app.py having run first.
"""

from __future__ import annotations

import html

import streamlit as st

from chatcore.wiring import Services
from storage import UserRecord
from ui.i18n import _, activate
from ui.text import code, plain
from web.context import base_path
from web.visitors import VISITOR_HEADER, Visitor, visitors


def _oidc_user(services: Services) -> UserRecord | None:
    if not st.user.is_logged_in:
        return None
    # The ID token's claims: Authlib checked its signature, issuer, audience and nonce before
    # Streamlit kept them in its signed cookie.
    claims = st.user.to_dict()
    return services.accounts.oidc_user(
        str(claims.get("iss") or ""),
        str(claims.get("sub") or ""),
        preferred_username=str(claims.get("preferred_username") or ""),
        display_name=str(claims.get("name") or ""),
        email=str(claims.get("email") or "") or None,
        # Some providers (Amazon Cognito among them) send this boolean as a string.
        email_verified=claims.get("email_verified") in (True, "true"),
    )


def current_visitor() -> Visitor | None:
    """The guard's decision for this tab's connection; None without a guard in front."""
    return visitors.get(st.context.headers.get(VISITOR_HEADER))


def session_token() -> str | None:
    """This tab's local session token (to keep it through a password change, to sign out)."""
    visitor = current_visitor()
    return visitor.session_token if visitor else None


def client_address() -> str | None:
    """The browser's address as the guard read it (through trusted proxies), so that proving
    a password here is throttled under the same keys as signing in."""
    visitor = current_visitor()
    return visitor.address if visitor else None


def _resolve(services: Services) -> UserRecord | None:
    mode = services.settings.auth_mode
    if mode == "none":
        # Read again each run (one query): the account's language may have changed.
        return services.accounts.local_user()
    if mode == "oidc":
        # Streamlit, not the guard, reads the identity cookie; the guard re-checks the account
        # it names at every later message of this tab, so it is handed over here.
        user = _oidc_user(services)
        visitor = current_visitor()
        if visitor is not None and user is not None:
            visitor.user = user
        return user
    visitor = current_visitor()
    return visitor.user if visitor is not None and visitor.mode == mode else None


def signed_in_user(services: Services) -> UserRecord:
    """The account, or a sign-in prompt and a stop; either way in the reader's language,
    which is decided here, the first thing every page does."""
    user = _resolve(services)
    activate(services.settings, user)
    if user is not None and not user.disabled:
        return user
    st.title("AnyChat", anchor=False)
    if services.settings.auth_mode == "oidc" and not st.user.is_logged_in:
        st.write(_("Sign in with your organisation's account to continue."))
        st.button(_("Sign in"), type="primary", icon=":material/login:", on_click=st.login)
    elif services.settings.auth_mode == "proxy":
        st.error(
            _(
                "The reverse proxy did not name a user (header {header}), "
                "or the account is disabled.",
                header=code(services.settings.proxy_header),
            )
        )
    elif services.settings.auth_mode == "oidc":  # signed in with the provider, refused here
        st.error(
            _(
                "Your account is disabled, or your identity provider did not say who you are "
                "(its ID token lacks an issuer or a subject)."
            )
        )
        st.button(_("Sign out"), icon=":material/logout:", on_click=st.logout)
    else:
        st.warning(_("You are signed out, or your account was disabled."))
        # A plain link: same tab (st.link_button would open a new one).
        link = html.escape(_("Sign in again"))
        st.html(f'<a href="{base_path()}/signin" target="_self">{link}</a>')
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def account_changed(updated: UserRecord) -> None:
    """The account changed in a callback (its language, say): the page run that follows reads
    it as it is now, not as the guard last checked it, before this action."""
    visitor = current_visitor()
    if visitor is not None and visitor.user is not None and visitor.user.id == updated.id:
        visitor.user = updated


def signed_in_admin(services: Services) -> UserRecord:
    """The account if it administers, or a refusal and a stop: admin pages check this
    themselves, since a page can be reached by URL whatever the navigation lists."""
    user = signed_in_user(services)
    if not user.is_admin:
        st.error(_("Only administrators can open this page."))
        st.stop()
    return user


def _sign_out_oidc(services: Services, user: UserRecord) -> None:
    services.accounts.end_single_sign_on(user)  # this person's other open tabs end too
    st.logout()


def draw_sign_out(services: Services, user: UserRecord) -> None:
    """The signed-in name and the way out, where the mode has one."""
    mode = services.settings.auth_mode
    if mode == "none":
        return
    st.caption(_("Signed in as **{name}**", name=plain(user.display_name or user.username)))
    token = session_token()
    if mode == "local" and token:
        # A form that posts in this same tab: signing out by GET would let any site sign a
        # teammate out with a link, and the code ties the post to this session.
        proof = html.escape(services.accounts.sign_out_code(token), quote=True)
        label = html.escape(_("Sign out"))
        st.html(
            f'<form method="post" action="{base_path()}/signout" class="anychat-signout">'
            f'<input type="hidden" name="code" value="{proof}">'
            f'<button type="submit">{label}</button></form>'
        )
    elif mode == "oidc":
        st.button(
            _("Sign out"),
            icon=":material/logout:",
            on_click=_sign_out_oidc,
            args=(services, user),
        )
