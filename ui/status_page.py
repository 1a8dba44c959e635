"""Connection status for administrators. Shows whether a key is set, never the key."""

from __future__ import annotations

import streamlit as st

from chatcore.config import redact_url
from chatcore.wiring import Services
from ui.text import code


def render(services: Services) -> None:
    settings = services.settings
    st.title("Status", anchor=False)
    models = services.model_list()
    left, middle, right = st.columns(3)
    left.metric("API key", "configured" if settings.has_api_key else "missing")
    middle.metric("Models listed", len(models.ids) if not models.error else 0)
    right.metric("Replies generating", services.chat.replies_generating())
    database = redact_url(settings.database_url)
    st.markdown(
        f"- **Endpoint:** `{settings.base_url}`\n"
        f"- **Database:** `{database}`\n"
        f"- **Default model:** `{settings.default_model}`\n"
        f"- **Timeout / retries:** {settings.request_timeout:g} s / {settings.max_retries}"
    )
    if models.error:
        st.warning(models.error)
    if st.button("Reload model list", icon=":material/refresh:"):
        services.refresh_models()
        st.rerun()
    with st.expander(f"{len(models.ids)} models"):
        st.write(", ".join(code(model) for model in models.ids))  # ids the upstream chose
