"""AnyChat's entry point: the Streamlit app plus its sign-in routes and guard.

Run with `streamlit run server.py` (scripts/start.sh does). `app.py` stays the page frame.
"""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from web.guard import SignInGuard
from web.headers import SecurityHeaders
from web.signin import routes
from web.static_files import StaticFiles
from web.theme_options import remember_theme_sections

# A `pages/` folder beside app.py switches Streamlit to its legacy page discovery until the
# first st.navigation call, so right after a start a URL could run pages/admin.py directly,
# without app.py's frame. Pages check their user themselves anyway; this closes the route.
PagesManager.uses_pages_directory = False
remember_theme_sections()  # read at every script run otherwise (web/theme_options.py)
log = logging.getLogger(__name__)


def _warm_up() -> None:
    """What the first page run would otherwise do while its visitor waits: import the pages'
    modules (about 1.5 s) and build the services (the schema checked or migrated, the worker
    and the model list started). A page that comes sooner waits for the same lock; a bad
    configuration is left for that page to explain. None of it is imported before the server
    listens (this module and web/ import only light modules at the top), so a browser's
    first request is answered, and its front end loads, while this runs."""
    try:
        import ui.chat_page  # noqa: F401  (the heaviest page; app.py's frame imports the rest)
        from chatcore.config import current_settings
        from chatcore.wiring import shared_services

        shared_services(current_settings())
    except Exception:
        log.debug("warm-up skipped; the first page reports any problem", exc_info=True)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """At start, warms up in the background, so the server answers at once and the first
    page does not wait for it. On a clean stop (SIGTERM, Ctrl-C): the replies this process is
    writing end as stopped, their text kept, and it leaves the process registry, so peers
    need not wait out the stale window. (The server re-raises the signal once shut down, so
    atexit hooks never run.)"""
    threading.Thread(target=_warm_up, name="anychat-warm-up", daemon=True).start()
    yield
    from chatcore.wiring import close_shared_services

    await asyncio.to_thread(close_shared_services)


# Outermost first: the security headers go on the guard's answers (redirects, refusals) and
# on the front end's files too; those files are public, so they are served before the guard.
app = st.App(
    "app.py",
    routes=routes(),
    middleware=[Middleware(SecurityHeaders), Middleware(StaticFiles), Middleware(SignInGuard)],
    lifespan=lifespan,
)
