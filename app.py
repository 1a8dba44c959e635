"""AnyChat: the frame around every page. Pages hold UI; chatcore and storage hold the logic."""

import streamlit as st

st.set_page_config(page_title="AnyChat", page_icon="💬", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/status.py", title="Status", icon=":material/monitor_heart:"),
    ],
    position="top",
)
navigation.run()
