"""AnyChat's entry point: the Streamlit app plus its sign-in routes and guard.

Run with `streamlit run server.py` (scripts/start.sh does). `app.py` stays the page frame.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from chatcore.wiring import close_shared_services
from web.guard import SignInGuard
from web.headers import SecurityHeaders
from web.signin import routes

# A `pages/` folder beside app.py switches Streamlit to its legacy page discovery until the
# first st.navigation call, so right after a start a URL could run pages/admin.py directly,
# without app.py's frame. Pages check their user themselves anyway; this closes the route.
PagesManager.uses_pages_directory = False


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """On a clean stop (SIGTERM, Ctrl-C): the replies this process is writing end as stopped,
    their text kept, and it leaves the process registry, so peers need not wait out the stale
    window. (The server re-raises the signal once shut down, so atexit hooks never run.)"""
    yield
    await asyncio.to_thread(close_shared_services)


# Outermost first: the security headers go on the guard's answers (redirects, refusals) too.
app = st.App(
    "app.py",
    routes=routes(),
    middleware=[Middleware(SecurityHeaders), Middleware(SignInGuard)],
    lifespan=lifespan,
)
