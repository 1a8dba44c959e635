"""web.headers.SecurityHeaders around a stand-in ASGI app: which responses get which headers."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.support.asgi import run_coroutine
from web.headers import (
    STREAMLIT_PAGE,
    SecurityHeaders,
    content_security_policy,
    inline_script_hashes,
)

Headers = list[tuple[bytes, bytes]]


def answering(headers: Headers) -> Any:
    """An ASGI app that answers every request with `headers` and an empty body."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def response_headers(headers: Headers) -> dict[str, str]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    run_coroutine(SecurityHeaders(answering(headers))(scope, receive, send))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    return {name.decode(): value.decode() for name, value in sent[0]["headers"]}


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


@pytest.fixture(autouse=True)
def image_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYCHAT_IMAGE_HOSTS", "img.example.com, CDN.Intranet.Example")


def test_an_html_page_gets_the_policy_and_every_response_the_two_headers() -> None:
    page = response_headers([(b"content-type", b"text/html; charset=utf-8")])
    policy = directives(page["content-security-policy"])
    assert policy["img-src"] == (
        "'self' data: blob: https://img.example.com http://img.example.com"
        " https://cdn.intranet.example http://cdn.intranet.example"
    )
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self' blob:"  # no other origin: blob: is local memory
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'self'"
    assert "'unsafe-eval'" not in policy["script-src"]
    assert page["x-content-type-options"] == "nosniff"
    assert page["referrer-policy"] == "same-origin"
    script = response_headers([(b"content-type", b"text/javascript")])
    assert "content-security-policy" not in script
    assert script["x-content-type-options"] == "nosniff"
    assert script["referrer-policy"] == "same-origin"


def test_headers_a_response_set_itself_are_kept() -> None:
    own = [
        (b"content-type", b"text/html"),
        (b"content-security-policy", b"default-src 'none'"),
        (b"referrer-policy", b"no-referrer"),
    ]
    headers = response_headers(own)
    assert headers["content-security-policy"] == "default-src 'none'"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_page_that_refuses_frames_keeps_refusing_them() -> None:
    """Where both are sent, browsers follow frame-ancestors and ignore X-Frame-Options."""
    headers = response_headers([(b"content-type", b"text/html"), (b"x-frame-options", b"DENY")])
    assert headers["x-frame-options"] == "DENY"
    assert directives(headers["content-security-policy"])["frame-ancestors"] == "'none'"


def test_a_misconfigured_server_still_sends_the_strictest_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANYCHAT_AUTH", "nonsense")  # load_settings raises ConfigError
    headers = response_headers([(b"content-type", b"text/html")])
    assert directives(headers["content-security-policy"])["img-src"] == "'self' data: blob:"


def test_a_host_that_could_break_the_header_is_left_out() -> None:
    policy = directives(content_security_policy(("ok.example", "evil.example; script-src *")))
    assert policy["img-src"] == "'self' data: blob: https://ok.example http://ok.example"
    assert "'unsafe-inline'" not in policy["script-src"]


def test_streamlits_inline_script_is_allowed_by_its_hash_only() -> None:
    page = STREAMLIT_PAGE.read_text(encoding="utf-8")
    assert "<script>" in page  # Streamlit's page still sets a flag inline
    script = "\n      window.prerenderReady = false\n    "
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert inline_script_hashes(f"<p><script>{script}</script>") == (f"'sha256-{digest}'",)
    policy = directives(content_security_policy(()))
    assert all(source in policy["script-src"] for source in inline_script_hashes(page))


def test_a_websocket_passes_through_untouched() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept", "headers": []})

    async def send(message: dict[str, Any]) -> None:
        seen.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    run_coroutine(SecurityHeaders(app)({"type": "websocket", "headers": []}, receive, send))
    assert seen == [{"type": "websocket.accept", "headers": []}]
