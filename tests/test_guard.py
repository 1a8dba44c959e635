"""The guard in front of the app, driven in-process through ASGI: who a request is from is
decided once, a doubled identity is refused, and an open websocket whose session ended can no
longer reach Streamlit (which would run a widget's callback before any page check)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from chatcore.config import load_settings
from chatcore.team.accounts import hash_password
from chatcore.wiring import Services, close_shared_services, shared_services
from tests.support.asgi import run_coroutine
from web.guard import (
    Refusal,
    SignInGuard,
    cookie_values,
    recheck,
    resolve_visitor,
    same_origin,
)
from web.visitors import VISITOR_HEADER, Visitor, visitors

PASSWORD = "a long enough password"


@pytest.fixture
def local_services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Services]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'guard.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    monkeypatch.delenv("ANYCHAT_TRUSTED_PROXIES", raising=False)
    yield shared_services(load_settings())
    close_shared_services()


@pytest.fixture
def proxy_services(local_services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("ANYCHAT_AUTH", "proxy")
    yield shared_services(load_settings())


def signed_in_token(services: Services, name: str = "mei") -> str:
    services.infra.users.create_user(name, password_hash=hash_password(PASSWORD))
    outcome = services.accounts.sign_in(name, PASSWORD)
    assert outcome.token is not None
    return outcome.token


def scope(
    kind: str = "websocket",
    *,
    headers: list[tuple[str, str]] | None = None,
    client: str = "127.0.0.1",
) -> dict[str, Any]:
    return {
        "type": kind,
        "path": "/_stcore/stream" if kind == "websocket" else "/",
        "method": "GET",
        "query_string": b"",
        "client": (client, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers or []],
    }


class InnerApp:
    """Streamlit's place behind the guard: records what reaches it."""

    def __init__(self, messages: int) -> None:
        self.messages = messages
        self.received: list[dict[str, Any]] = []
        self.scope: dict[str, Any] | None = None
        self.visitor_seen = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        handle = dict((k.decode(), v.decode()) for k, v in scope["headers"]).get(VISITOR_HEADER)
        self.visitor_seen = visitors.get(handle)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"page"})
            return
        for _ in range(self.messages):
            message = await receive()
            self.received.append(message)
            if message["type"] == "websocket.disconnect":
                return


def run_websocket(
    guard_scope: dict[str, Any], inner: InnerApp, between: Any = None
) -> list[dict[str, Any]]:
    """Two browser messages over one websocket; `between` runs after the first."""
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        calls = 0

        async def receive() -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 2 and between is not None:
                await asyncio.to_thread(between)
            return {"type": "websocket.receive", "bytes": b"first" if calls == 1 else b"second"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await SignInGuard(inner)(guard_scope, receive, send)

    run_coroutine(main())
    return sent


def test_a_signed_in_websocket_gets_its_visitor_and_every_message(
    local_services: Services,
) -> None:
    token = signed_in_token(local_services)
    inner = InnerApp(messages=2)
    sent = run_websocket(
        scope(headers=[("cookie", f"anychat_session={token}"), (VISITOR_HEADER, "forged")]),
        inner,
    )
    assert [m["bytes"] for m in inner.received] == [b"first", b"second"]
    assert sent == []
    assert inner.visitor_seen is not None and inner.visitor_seen.user.username == "mei"
    # The client's own copy of the visitor header never reaches the app.
    values = [v for k, v in inner.scope["headers"] if k == VISITOR_HEADER.encode()]
    assert len(values) == 1 and values[0] != b"forged"
    assert len(visitors) == 0  # forgotten when the websocket ends


def test_signing_out_elsewhere_stops_the_next_message_of_an_open_tab(
    local_services: Services,
) -> None:
    token = signed_in_token(local_services)
    inner = InnerApp(messages=2)
    sent = run_websocket(
        scope(headers=[("cookie", f"anychat_session={token}")]),
        inner,
        between=lambda: local_services.accounts.sign_out(token),
    )
    # The first message went through; the second (a button's callback, say) never did.
    assert inner.received[0]["bytes"] == b"first"
    assert inner.received[1]["type"] == "websocket.disconnect"
    redirect = ForwardMsg()
    redirect.ParseFromString(sent[0]["bytes"])
    assert redirect.auth_redirect.url == "/signin?ended=1"
    assert sent[1] == {"type": "websocket.close", "code": 1008}


@pytest.mark.parametrize("ending", ["disable", "reset", "own_password"])
def test_every_way_a_session_ends_reaches_open_tabs(local_services: Services, ending: str) -> None:
    token = signed_in_token(local_services, "lin")
    admin = local_services.infra.users.create_user("boss", role="admin")
    lin = local_services.infra.users.find_user("lin")
    assert lin is not None

    def end() -> None:
        if ending == "disable":
            local_services.accounts.set_disabled(admin, lin.id, True)
        elif ending == "reset":
            local_services.accounts.reset_password(admin, lin.id, "another long password")
        else:  # changed from another browser, which keeps its own session only
            local_services.accounts.change_own_password(lin, PASSWORD, "another long password")

    inner = InnerApp(messages=2)
    run_websocket(scope(headers=[("cookie", f"anychat_session={token}")]), inner, between=end)
    assert inner.received[1]["type"] == "websocket.disconnect"


def test_a_doubled_session_cookie_is_refused(local_services: Services) -> None:
    token = signed_in_token(local_services)
    for headers in (
        [("cookie", f"anychat_session={token}; anychat_session=other")],
        [("cookie", f"anychat_session={token}"), ("cookie", "anychat_session=other")],
    ):
        refusal = resolve_visitor(
            scope("http", headers=headers), load_settings(), local_services.accounts
        )
        assert refusal == Refusal(400, "The request carries the session cookie more than once.")


def test_another_apps_odd_cookie_does_not_hide_the_session(local_services: Services) -> None:
    token = signed_in_token(local_services)
    header = f'prefs={{"theme": "dark"}}; tracker=a b; anychat_session={token}; z=1'
    assert cookie_values(scope(headers=[("cookie", header)]), "anychat_session") == [token]
    visitor = resolve_visitor(
        scope("http", headers=[("cookie", header)]), load_settings(), local_services.accounts
    )
    assert not isinstance(visitor, Refusal) and visitor.user.username == "mei"


def test_a_doubled_proxy_header_is_refused(proxy_services: Services) -> None:
    refusal = resolve_visitor(
        scope("http", headers=[("x-forwarded-user", "alice"), ("x-forwarded-user", "realuser")]),
        load_settings(),
        proxy_services.accounts,
    )
    assert isinstance(refusal, Refusal) and refusal.status == 400
    assert refusal.reason == "The request carries the X-Forwarded-User header more than once."
    assert proxy_services.infra.users.find_user("alice") is None
    assert proxy_services.infra.users.find_user("realuser") is None


def test_the_proxy_header_counts_only_from_a_trusted_proxy(proxy_services: Services) -> None:
    settings = load_settings()
    named = [("x-forwarded-user", "alice")]
    trusted = resolve_visitor(scope("http", headers=named), settings, proxy_services.accounts)
    assert not isinstance(trusted, Refusal) and trusted.user.username == "alice"
    direct = resolve_visitor(
        scope("http", headers=named, client="10.1.2.3"), settings, proxy_services.accounts
    )
    assert isinstance(direct, Refusal) and direct.status == 401


def test_a_proxy_visitor_disabled_mid_session_is_stopped(proxy_services: Services) -> None:
    admin = proxy_services.infra.users.create_user("boss", role="admin")
    inner = InnerApp(messages=2)

    def disable() -> None:
        alice = proxy_services.infra.users.find_user("alice")
        assert alice is not None
        proxy_services.accounts.set_disabled(admin, alice.id, True)

    sent = run_websocket(scope(headers=[("x-forwarded-user", "alice")]), inner, between=disable)
    assert inner.received[1]["type"] == "websocket.disconnect"
    redirect = ForwardMsg()
    redirect.ParseFromString(sent[0]["bytes"])
    assert redirect.auth_redirect.url == "/"


def open_refused_websocket(guard_scope: dict[str, Any]) -> tuple[InnerApp, list[dict[str, Any]]]:
    """A websocket opened the way a browser opens one; what reached the app, what was sent."""
    inner = InnerApp(messages=1)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run_coroutine(SignInGuard(inner)(guard_scope, receive, send))
    return inner, sent


def sent_to(sent: list[dict[str, Any]]) -> str:
    """Where the tab was told to go by the guard's one message."""
    assert sent[0]["type"] == "websocket.accept"
    assert [m["type"] for m in sent[1:]] == ["websocket.send", "websocket.close"]
    assert sent[2]["code"] == 1008
    redirect = ForwardMsg()
    redirect.ParseFromString(sent[1]["bytes"])
    return redirect.auth_redirect.url


def test_anonymous_requests_never_reach_the_app(local_services: Services) -> None:
    inner, sent = open_refused_websocket(scope())
    assert inner.scope is None
    assert sent_to(sent) == "/signin?ended=1"


def test_a_tab_reconnecting_after_its_session_ended_is_sent_to_sign_in(
    local_services: Services,
) -> None:
    """Its connection dropped (a restart, a blip) while it was signed out elsewhere: told where
    to go, it shows the sign-in page instead of retrying over a greyed-out app for ever."""
    token = signed_in_token(local_services)
    local_services.accounts.sign_out(token)
    browser = [("cookie", f"anychat_session={token}"), ("host", "chat.example")]
    guard_scope = scope(headers=[*browser, ("origin", "https://chat.example")])
    guard_scope["subprotocols"] = ["streamlit", "xsrf-token"]
    inner, sent = open_refused_websocket(guard_scope)
    assert inner.scope is None
    assert sent[0]["subprotocol"] == "streamlit"  # the browser drops a handshake without one
    assert sent_to(sent) == "/signin?ended=1"
    # Another site's page learns nothing: its websocket is closed without a word.
    elsewhere = scope(headers=[*browser, ("origin", "https://evil.example")])
    assert open_refused_websocket(elsewhere)[1] == [{"type": "websocket.close", "code": 1008}]


def test_a_proxy_tab_whose_user_is_no_longer_named_goes_to_the_proxy(
    proxy_services: Services,
) -> None:
    inner, sent = open_refused_websocket(scope())
    assert inner.scope is None
    assert sent_to(sent) == "/"


def test_a_doubled_identity_websocket_is_closed_without_a_redirect(
    local_services: Services,
) -> None:
    doubled = scope(headers=[("cookie", "anychat_session=a; anychat_session=b")])
    assert open_refused_websocket(doubled)[1] == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8501", "127.0.0.1:8501", True),
        ("http://127.0.0.1:9999", "127.0.0.1:8501", False),  # another program on this host
        ("http://localhost:8501", "127.0.0.1:8501", False),
        ("https://chat.example", "chat.example", True),
        (None, "127.0.0.1:8501", True),  # not a browser
    ],
)
def test_websockets_come_only_from_this_origin(
    local_services: Services, origin: str | None, host: str, allowed: bool
) -> None:
    headers = [("host", host)] + ([("origin", origin)] if origin else [])
    assert same_origin(scope(headers=headers, client="10.9.9.9"), load_settings()) is allowed


def test_single_sign_on_tabs_end_when_their_person_signs_out(local_services: Services) -> None:
    """Streamlit's identity cookie cannot be revoked; a tab bound to the account is refused
    at its next message once that person signs out (anywhere), or is disabled."""
    accounts = local_services.accounts
    mei = local_services.infra.users.create_user("mei", auth_source="oidc")
    visitor = Visitor("oidc", None)
    assert recheck(visitor, accounts)  # not bound yet: the page's first run binds it
    visitor.user = mei
    assert recheck(visitor, accounts)
    accounts.end_single_sign_on(mei)
    assert not recheck(visitor, accounts)
    reopened = Visitor("oidc", mei)  # a tab opened after signing in again
    assert recheck(reopened, accounts)
    admin = local_services.infra.users.create_user("boss", role="admin")
    accounts.set_disabled(admin, mei.id, True)
    assert not recheck(reopened, accounts)
