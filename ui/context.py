"""Process-wide services for the Streamlit layer, and the per-tab state keys it uses."""

from __future__ import annotations

import logging

import streamlit as st

from chatcore.config import ConfigError, Settings, load_settings
from chatcore.services import Services, shared_services
from storage import UserRecord

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


USER = "signed_in_user"


@st.cache_resource(show_spinner=False)
def _services_for(settings: Settings) -> Services:
    # Keyed on the settings value: one engine, client and worker per configuration and process,
    # the same objects the sign-in routes use (web/context.py).
    return shared_services(settings)


def services() -> Services:
    """The app's services, or a plain message and a stop when the configuration is unusable."""
    try:
        return _services_for(load_settings())
    except ConfigError as exc:  # a bad variable, or a bad ANYCHAT_ADMIN_* found at start-up
        st.error(f"AnyChat is misconfigured: {exc}")
        st.stop()
        raise  # st.stop() raises; this keeps type checkers informed


def remember_user(user: UserRecord) -> UserRecord:
    """app.py resolves the account on every run; the page scripts of that run read it here."""
    st.session_state[USER] = user
    return user


def current_user() -> UserRecord:
    return st.session_state[USER]
