"""Process-wide services for the Streamlit layer."""

from __future__ import annotations

import logging

import streamlit as st

from chatcore.config import Settings, current_settings
from chatcore.errors import ConfigError
from chatcore.i18n import AUTO, resolve_language, translator
from chatcore.wiring import Services, shared_services

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# Keyed on the settings' own hash (a frozen dataclass): Streamlit's hashing of every field on
# each call took 4% of a busy process's time.
@st.cache_resource(show_spinner=False, hash_funcs={Settings: hash})
def _services_for(settings: Settings) -> Services:
    # One engine, client and worker per configuration and process, the same objects the
    # sign-in routes use (web/context.py): shared_services keys them on the settings' value.
    return shared_services(settings)


def services() -> Services:
    """The app's services, or a plain message and a stop when the configuration is unusable."""
    try:
        return _services_for(current_settings())
    except ConfigError as exc:  # a bad variable, or a bad ANYCHAT_ADMIN_* found at start-up
        # No settings, so no server default: the browser's language alone decides.
        t = translator(resolve_language(None, [st.context.locale or ""], AUTO), st.context.timezone)
        st.error(t.gettext("AnyChat is misconfigured: {error}", error=t.explain(exc)))
        st.stop()
        raise  # st.stop() raises; this keeps type checkers informed
