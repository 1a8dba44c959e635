"""AnyChat: the frame around every page. Pages hold UI; chatcore and storage hold the logic."""

import streamlit as st

from ui.auth import draw_sign_out, signed_in_user
from ui.context import services
from ui.i18n import _

st.set_page_config(page_title="AnyChat", page_icon="💬", layout="wide")

user = signed_in_user(services())  # decides the reader's language: the titles below use it
pages = [
    st.Page("pages/chat.py", title=_("Chat"), icon=":material/chat:", default=True),
    st.Page("pages/usage.py", title=_("Usage"), icon=":material/bar_chart:"),
    st.Page("pages/account.py", title=_("Account"), icon=":material/person:"),
]
if user.is_admin:
    pages += [
        st.Page("pages/admin.py", title=_("Admin"), icon=":material/admin_panel_settings:"),
        st.Page("pages/status.py", title=_("Status"), icon=":material/monitor_heart:"),
    ]
navigation = st.navigation(pages, position="top")
with st.sidebar:
    draw_sign_out(services(), user)
navigation.run()
