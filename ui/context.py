"""Process-wide services for the Streamlit layer, and the per-tab state keys it uses."""

from __future__ import annotations

import logging

import streamlit as st

from chatcore.config import ConfigError, Settings, load_settings
from chatcore.services import Services, build_services

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@st.cache_resource(show_spinner=False)
def _services_for(settings: Settings) -> Services:
    # Keyed on the settings value: one engine, client and worker per configuration and process.
    return build_services(settings)


def services() -> Services:
    """The app's services, or a plain message and a stop when the configuration is unusable."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        st.error(f"AnyChat is misconfigured: {exc}")
        st.stop()
    return _services_for(settings)
