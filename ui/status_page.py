"""Connection status for administrators. Shows whether a key is set, never the key."""

from __future__ import annotations

import streamlit as st

from chatcore.config import redact_url
from chatcore.wiring import Services
from ui.i18n import _, current, ngettext
from ui.text import code, say


def render(services: Services) -> None:
    settings = services.settings
    reader = current()
    st.title(_("Status"), anchor=False)
    models = services.model_list()
    left, middle, right = st.columns(3)
    left.metric(_("API key"), _("configured") if settings.has_api_key else _("missing"))
    middle.metric(
        _("Models listed"), reader.format_number(len(models.ids) if not models.error else 0)
    )
    right.metric(_("Replies generating"), reader.format_number(services.chat.replies_generating()))
    database = redact_url(settings.database_url)
    st.markdown(
        _(
            "- **Endpoint:** {endpoint}\n"
            "- **Database:** {database}\n"
            "- **Default model:** {model}\n"
            "- **Timeout / retries:** {timeout} s / {retries}",
            endpoint=code(settings.base_url),
            database=code(database),
            model=code(settings.default_model),
            timeout=reader.format_number(settings.request_timeout),
            retries=reader.format_number(settings.max_retries),
        )
    )
    if models.error:
        st.warning(say(models.error))
    if st.button(_("Reload model list"), icon=":material/refresh:"):
        services.refresh_models()
        st.rerun()
    with st.expander(ngettext("{count} model", "{count} models", len(models.ids))):
        st.write(", ".join(code(model) for model in models.ids))  # ids the upstream chose
