"""The sign-in and sign-out routes over real HTTP: web.signin.routes() served by uvicorn on a
free loopback port (httpx, which Starlette's TestClient needs, is not installed).

The server runs with a single worker thread, so a route that held one while waiting would
stall every other request, and the tests would see it.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import anyio.to_thread
import pytest
import uvicorn
from starlette.applications import Starlette

from chatcore.config import load_settings
from chatcore.team.accounts import WRONG_CREDENTIALS, WRONG_SETUP_CODE, AccountService
from chatcore.wiring import close_shared_services, shared_services
from web.signin import CSRF_COOKIE, routes

SESSION_COOKIE = "anychat_session"
PASSWORD = "correct horse battery"
TOO_MANY = "Too many attempts from this address; try again in 15 minutes."
ATTACKER = "198.51.100.7"
STARTUP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def cookies(self) -> dict[str, str]:
        """Cookies the reply sets, by name ("" for one it deletes)."""
        found = {}
        for header in self.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            found[name] = rest.split(";", 1)[0].strip('"')
        return found


class Site:
    """A client for the server under test; cookies and headers are given per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read().decode())
        finally:
            connection.close()

    def csrf(self) -> str:
        """A fresh sign-in form's CSRF token (also its cookie's value)."""
        reply = self.request("GET", "/signin")
        token = hidden(reply.body, "csrf")
        assert reply.cookies()[CSRF_COOKIE] == token
        return token

    def sign_in(self, username: str, password: str, address: str) -> Reply:
        token = self.csrf()
        return self.request(
            "POST",
            "/signin",
            form={"csrf": token, "username": username, "password": password},
            cookies={CSRF_COOKIE: token},
            headers={"X-Forwarded-For": address},
        )


def hidden(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert found is not None, page
    return found.group(1)


@asynccontextmanager
async def one_worker_thread(_app: Starlette) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = 1
    yield


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Site]:
    for name in list(os.environ):  # nothing from the developer's shell may steer the app
        if name.startswith(("ANYAPI_", "ANYCHAT_", "OPENAI_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'signin.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    app = Starlette(routes=routes(), lifespan=one_worker_thread)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, name="signin-routes", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Site(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        close_shared_services()


def service() -> AccountService:
    """The very service the routes use."""
    return shared_services(load_settings()).accounts


def admin_token() -> str:
    accounts = service()
    accounts.create_first_admin("root", PASSWORD, accounts.setup_code())
    token = accounts.sign_in("root", PASSWORD).token
    assert token is not None
    return token


# --- the forms ------------------------------------------------------------------------------


def test_a_forged_csrf_cookie_is_replaced_never_echoed(site: Site) -> None:
    forged = 'abc"><img src=x onerror=alert(1)>'
    reply = site.request("GET", "/signin", headers={"Cookie": f"{CSRF_COOKIE}={forged}"})
    assert reply.status == 200
    assert "<img" not in reply.body and "onerror" not in reply.body
    token = hidden(reply.body, "csrf")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
    assert reply.cookies()[CSRF_COOKIE] == token
    # A well-formed token is kept, so a second tab does not expire the first one's form.
    again = site.request("GET", "/signin", cookies={CSRF_COOKIE: token})
    assert hidden(again.body, "csrf") == token


def test_odd_form_input_is_an_expired_form_never_a_crash(site: Site) -> None:
    token = site.csrf()
    for sent in ("é", "\x00", "x" * 5000, "", token + "é"):
        reply = site.request(
            "POST",
            "/signin",
            form={"csrf": sent, "username": "root", "password": PASSWORD},
            cookies={CSRF_COOKIE: token},
        )
        assert reply.status == 401, (sent, reply.body)
        assert "The form expired; please try again." in reply.body
    boundary = "anychat-boundary"
    upload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"; filename="t.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n{token}\r\n--{boundary}--\r\n"
    ).encode()
    reply = site.request(
        "POST",
        "/signin",
        body=upload,
        cookies={CSRF_COOKIE: token},
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert reply.status == 400  # a file where a field belongs: refused, not a traceback
    assert service().needs_first_admin()


def test_the_administrator_is_created_with_the_code_from_the_log(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    page = site.request("GET", "/signin")
    assert page.status == 200 and 'name="setup_code"' in page.body
    printed = [r.getMessage() for r in caplog.records if "setup code" in r.getMessage()]
    assert len(printed) == 1 and all(r.levelno == logging.WARNING for r in caplog.records)
    found = re.search(r"setup code ([0-9a-f]{20})", printed[0])
    assert found is not None and "/signin" in printed[0]
    token = hidden(page.body, "csrf")
    form = {"csrf": token, "username": "root", "password": PASSWORD, "confirm": PASSWORD}

    wrong = site.request(
        "POST", "/signin", form={**form, "setup_code": "0" * 20}, cookies={CSRF_COOKIE: token}
    )
    assert wrong.status == 401 and WRONG_SETUP_CODE.replace("'", "&#x27;") in wrong.body
    assert service().needs_first_admin()

    right = site.request(
        "POST", "/signin", form={**form, "setup_code": found.group(1)}, cookies={CSRF_COOKIE: token}
    )
    assert (right.status, right.headers["location"]) == (303, "/")
    created = service().user_for_token(right.cookies()[SESSION_COOKIE])
    assert created is not None and (created.username, created.role) == ("root", "admin")


# --- throttling -----------------------------------------------------------------------------


def test_a_held_back_answer_holds_no_worker_thread(site: Site) -> None:
    """The fifth wrong password waits 2 s; meanwhile the only worker thread serves others.
    Past the limit the client's address (from X-Forwarded-For, set by a trusted proxy) is
    refused even the right password."""
    admin_token()
    for _ in range(4):
        service().sign_in("root", "wrong password", address=ATTACKER)
    finished: dict[str, float] = {}

    def post() -> None:
        reply = site.sign_in("root", "wrong password", ATTACKER)
        assert reply.status == 401 and WRONG_CREDENTIALS.message in reply.body
        finished["post"] = time.monotonic()

    started = time.monotonic()
    guess = threading.Thread(target=post)
    guess.start()
    time.sleep(0.5)
    assert site.request("GET", "/signin").status == 200
    finished["get"] = time.monotonic()
    guess.join(30)
    assert finished["get"] < finished["post"]
    assert finished["post"] - started >= 2.0

    refused = site.sign_in("root", PASSWORD, ATTACKER)
    assert refused.status == 401 and TOO_MANY in refused.body
    assert SESSION_COOKIE not in refused.cookies()


# --- signing out ----------------------------------------------------------------------------


def test_signing_out_takes_a_post_with_this_sessions_code(site: Site) -> None:
    token = admin_token()
    other_session = service().sign_in("root", PASSWORD).token or ""
    cookies = {SESSION_COOKIE: token}

    offered = site.request("GET", "/signout", cookies=cookies)
    assert offered.status == 200 and service().user_for_token(token) is not None
    code = hidden(offered.body, "code")
    assert code == service().sign_out_code(token)

    forged = [
        ({}, {}),
        ({"code": "0" * 64}, {}),
        ({"code": "é"}, {}),
        ({"code": service().sign_out_code(other_session)}, {}),
        ({"code": code}, {"Origin": "https://elsewhere.example"}),
        ({"code": code}, {"Origin": "null"}),
    ]
    for form, headers in forged:
        reply = site.request("POST", "/signout", form=form, cookies=cookies, headers=headers)
        assert reply.status == 403, (form, headers)
        assert service().user_for_token(token) is not None

    done = site.request(
        "POST", "/signout", form={"code": code}, cookies=cookies, headers={"Origin": site.origin}
    )
    assert (done.status, done.headers["location"]) == (303, "/signin")
    assert done.cookies()[SESSION_COOKIE] == ""
    assert service().user_for_token(token) is None
    assert service().user_for_token(other_session) is not None  # other browsers stay in
    gone = site.request("GET", "/signout", cookies=cookies)
    assert (gone.status, gone.headers["location"]) == (303, "/signin")
