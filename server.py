"""AnyChat's entry point: the Streamlit app plus its sign-in routes and guard.

Run with `streamlit run server.py` (scripts/start.sh does). `app.py` stays the page frame.
"""

import streamlit as st
from starlette.middleware import Middleware

from web.guard import SignInGuard
from web.signin import routes

app = st.App("app.py", routes=routes(), middleware=[Middleware(SignInGuard)])
