"""An ASGI guard in front of the whole app: no page, script run or upload for a visitor who is
not signed in (local mode) or whom the reverse proxy did not name (proxy mode).

Checking in the HTTP layer, not only in the page script, means an anonymous browser never gets
a Streamlit session at all, and a session ended elsewhere (sign-out, an admin disabling the
account) cannot reconnect its websocket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from web.context import SESSION_COOKIE, accounts, base_path, settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Served to anyone: the sign-in pages, the front end's static files and the health check.
PUBLIC_PREFIXES = ("/signin", "/signout", "/static/", "/_stcore/health", "/_stcore/host-config")
PUBLIC_FILES = ("/favicon.png", "/manifest.json", "/robots.txt")


def _headers(scope: Scope) -> dict[str, str]:
    return {
        key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]
    }


def _cookie(headers: dict[str, str], name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is the same as none
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_FILES


def visitor_allowed(headers: dict[str, str]) -> bool:
    """Whether the request comes from someone the configured sign-in mode accepts."""
    mode = settings().auth_mode
    if mode in ("none", "oidc"):  # oidc: Streamlit's own st.login gates inside the page
        return True
    if mode == "proxy":
        name = headers.get(settings().proxy_header.lower(), "").strip()
        return bool(name) and accounts().external_user(name, source="proxy") is not None
    return accounts().user_for_token(_cookie(headers, SESSION_COOKIE)) is not None


class SignInGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        prefix = base_path()
        path = scope["path"][len(prefix) :] if scope["path"].startswith(prefix) else scope["path"]
        if _is_public(path):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if await run_in_threadpool(visitor_allowed, headers):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._refuse(scope, send, path, headers)

    async def _refuse(self, scope: Scope, send: Send, path: str, headers: dict[str, str]) -> None:
        navigation = scope.get("method") == "GET" and "text/html" in headers.get("accept", "")
        if settings().auth_mode == "proxy" or not navigation:
            body = (
                f"AnyChat expects the reverse proxy to name the user in the "
                f"{settings().proxy_header} header."
                if settings().auth_mode == "proxy"
                else "Sign in first."
            ).encode()
            await _respond(send, 401, body, [(b"content-type", b"text/plain; charset=utf-8")])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = base_path() + path + (f"?{query}" if query else "")
        location = f"{base_path()}/signin?next={quote(target, safe='')}"
        await _respond(send, 303, b"", [(b"location", location.encode("latin-1"))])


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})
