"""An ASGI guard in front of the whole app: the one place that decides who a request is from.

- No page, script run or upload for a visitor who is not signed in (local mode) or whom a
  trusted reverse proxy did not name (proxy mode): an anonymous browser never gets a Streamlit
  session at all.
- Every message an open tab sends over its websocket is checked again before Streamlit sees
  it. Streamlit runs a widget's callback before the page script, so a check in the page alone
  would let a tab whose session ended elsewhere (sign-out, a password change or reset, a
  disabled account) still submit forms; here such a message is dropped and the tab is sent to
  the sign-in page instead. So is a tab that reconnects (after a blip or a restart) once its
  session has ended.
- The visitor is resolved once, here, and handed to the pages (web/visitors.py); a request
  that names its user twice (a repeated proxy header, a repeated session cookie) is refused
  rather than read one way here and another way there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool

from chatcore.config import Settings
from chatcore.i18n import N_, for_accept_language
from web.client import client_address, header_values, is_trusted, peer_address
from web.context import SESSION_COOKIE, accounts, base_path, settings
from web.visitors import VISITOR_HEADER, Visitor, visitors

if TYPE_CHECKING:
    from chatcore.team.accounts import AccountService

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

# Served to anyone: the sign-in pages, the front end's static files and the health check.
PUBLIC_PREFIXES = ("/signin", "/signout", "/static/", "/_stcore/health", "/_stcore/host-config")
PUBLIC_FILES = ("/favicon.png", "/manifest.json", "/robots.txt")


def cookie_values(scope: Scope, name: str) -> list[str]:
    """Every value the request's Cookie headers give `name`, in order.

    Parsed by hand, leniently: the standard library's parser gives up on the whole header at
    the first cookie it dislikes (a space, a JSON value set by another app on the same host),
    which read as "no session" and bounced the browser between / and /signin for ever.
    """
    found = []
    for header in header_values(scope, "cookie"):
        for pair in header.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key.strip() == name:
                found.append(value.strip())
    return found


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: an English sentence (`template`) and the values it names,
    said in the reader's language when it is sent."""

    status: int
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The sentence in English, as written."""
        return self.template.format(**self.params) if self.params else self.template


def _single(values: list[str], refusal: Refusal) -> str | Refusal | None:
    if len(values) > 1:
        return refusal
    return values[0].strip() if values else None


def resolve_visitor(scope: Scope, config: Settings, service: AccountService) -> Visitor | Refusal:
    """Who the request is from, under the configured sign-in mode, or why it is refused."""
    mode = config.auth_mode
    if mode in ("none", "oidc"):  # none: one implicit user; oidc: st.login decides in the page
        return Visitor(mode, None)
    if mode == "proxy":
        name = _single(
            header_values(scope, config.proxy_header),
            Refusal(
                400,
                N_("The request carries the {header} header more than once."),
                {"header": config.proxy_header},
            ),
        )
        if isinstance(name, Refusal):
            return name
        if not is_trusted(peer_address(scope), config.trusted_proxies):
            return Refusal(401, N_("Requests must come through the trusted reverse proxy."))
        user = service.external_user(name, source="proxy") if name else None
        if user is None:
            return Refusal(
                401,
                N_(
                    "The reverse proxy did not name a user in the {header} header, "
                    "or that account is disabled."
                ),
                {"header": config.proxy_header},
            )
        return Visitor(mode, user, proxy_name=name)
    token = _single(
        cookie_values(scope, SESSION_COOKIE),
        Refusal(400, N_("The request carries the session cookie more than once.")),
    )
    if isinstance(token, Refusal):
        return token
    user = service.user_for_token(token)
    if user is None:
        return Refusal(401, N_("Sign in first."))
    return Visitor(mode, user, session_token=token)


def recheck(visitor: Visitor, service: AccountService) -> bool:
    """Whether the visitor's sign-in still holds, refreshing the account record it carries."""
    if visitor.mode == "local":
        user = service.user_for_token(visitor.session_token)
    elif visitor.mode == "proxy" and visitor.proxy_name:
        user = service.external_user(visitor.proxy_name, source="proxy")
    elif visitor.mode == "oidc" and visitor.user is not None:  # bound by the page's first run
        user = service.still_signed_in(visitor.user.id, visitor.opened_at)
    else:
        return True
    if user is None:
        return False
    visitor.user = user
    return True


def same_origin(scope: Scope, config: Settings) -> bool:
    """A websocket opened by a page of this very origin (scheme-less host and port).

    Streamlit's own check lets any port on localhost in, and cookies do not care about ports:
    a page served by another program on the same host could otherwise drive a teammate's tab.
    """
    origins = header_values(scope, "origin")
    if not origins:
        return True  # not a browser: a browser always sends Origin on a websocket
    if len(origins) > 1:
        return False
    host = header_values(scope, "host")
    if is_trusted(peer_address(scope), config.trusted_proxies):
        host = header_values(scope, "x-forwarded-host") or host
    expected = host[0].split(",")[0].strip().lower() if host else ""
    return urlsplit(origins[0]).netloc.lower() == expected


def _with_visitor_header(scope: Scope, handle: str | None) -> Scope:
    """The scope with any client-sent visitor header removed, and the guard's own added."""
    name = VISITOR_HEADER.encode("latin-1")
    headers = [(key, value) for key, value in scope["headers"] if key.lower() != name]
    if handle is not None:
        headers.append((name, handle.encode("latin-1")))
    return {**scope, "headers": headers}


def _ended_message(url: str) -> bytes:
    """A Streamlit ForwardMsg telling the tab to go to `url` (as st.logout does)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    message = ForwardMsg()
    message.auth_redirect.url = url
    return bytes(message.SerializeToString())


class SignInGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        prefix = base_path()
        path = scope["path"][len(prefix) :] if scope["path"].startswith(prefix) else scope["path"]
        scope = _with_visitor_header(scope, None)
        if path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_FILES:
            await self.app(scope, receive, send)
            return
        config = settings()  # not for static files: it reads the environment and secrets.toml
        service = accounts()
        visitor = await run_in_threadpool(resolve_visitor, scope, config, service)
        if isinstance(visitor, Refusal):
            await self._refuse(scope, receive, send, path, visitor, config)
            return
        visitor.address = client_address(scope, config.trusted_proxies)
        if scope["type"] == "http":
            await self.app(scope, receive, send)
            return
        if not same_origin(scope, config):
            log.warning("refused a websocket from another origin")
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._serve_websocket(scope, receive, send, visitor, service)

    async def _serve_websocket(
        self, scope: Scope, receive: Receive, send: Send, visitor: Visitor, service: AccountService
    ) -> None:
        handle = visitors.add(visitor)

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            if await run_in_threadpool(recheck, visitor, service):
                return message
            # The session ended since the tab opened: the action never reaches Streamlit,
            # and the tab is sent to a page that says so.
            await _redirect_and_close(send, _signed_out_url(visitor.mode))
            return {"type": "websocket.disconnect", "code": 1008}

        try:
            await self.app(_with_visitor_header(scope, handle), checked_receive, send)
        finally:
            visitors.remove(handle)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        refusal: Refusal,
        config: Settings,
    ) -> None:
        if scope["type"] == "websocket":
            if refusal.status == 401 and same_origin(scope, config):
                await _send_tab_away(scope, receive, send, _signed_out_url(config.auth_mode))
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        accept = ",".join(header_values(scope, "accept"))
        navigation = scope.get("method") == "GET" and "text/html" in accept
        if config.auth_mode == "proxy" or not navigation or refusal.status != 401:
            # Said in the language the browser asks for (no account is known: it was refused).
            reader = for_accept_language(
                ",".join(header_values(scope, "accept-language")), config.language
            )
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-language", reader.tag.encode("latin-1")),
                (b"vary", b"Accept-Language"),
            ]
            body = reader.explain(refusal).encode()
            await _respond(send, refusal.status, body, headers)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = base_path() + path + (f"?{query}" if query else "")
        location = f"{base_path()}/signin?next={quote(target, safe='')}"
        await _respond(send, 303, b"", [(b"location", location.encode("latin-1"))])


def _signed_out_url(mode: str) -> str:
    """Where a tab goes once its sign-in no longer holds, under the sign-in mode `mode`."""
    if mode == "local":
        return f"{base_path()}/signin?ended=1"
    # Proxy mode: the proxy decides what a signed-out visitor sees; single sign-on: the app
    # offers to sign in again, or says the account is disabled.
    return f"{base_path()}/"


async def _send_tab_away(scope: Scope, receive: Receive, send: Send, url: str) -> None:
    """Accept a refused websocket only to send its tab to `url`, then close it.

    Only a page this guard served opens the app's websocket, so one that arrives without a
    sign-in is a tab whose session ended while its connection was down (a network blip, a
    restart, a reconnect under load). Closed bare, Streamlit would retry for ever over a
    greyed-out page; told where to go, the tab shows the sign-in page and why.
    """
    if (await receive())["type"] != "websocket.connect":
        return
    accept: Message = {"type": "websocket.accept"}
    offered = scope.get("subprotocols") or []
    if offered:  # a browser fails the handshake unless one of its subprotocols is chosen
        accept["subprotocol"] = offered[0]
    await send(accept)
    await _redirect_and_close(send, url)


async def _redirect_and_close(send: Send, url: str) -> None:
    """Tell an open tab to go to `url` (as st.logout does), then close its websocket."""
    await send({"type": "websocket.send", "bytes": _ended_message(url)})
    await send({"type": "websocket.close", "code": 1008})


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
