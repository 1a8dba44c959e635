"""The team side in the reader's language: the sign-in pages by the browser's Accept-Language,
the account's own choice on the Account page, and the usage CSV's headers.

Translations are merged into the catalogue separately, so the expected text is always taken
from the translator, never written here in Chinese.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import os
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from starlette.applications import Starlette
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.config import load_settings
from chatcore.i18n import translator
from chatcore.team.accounts import WRONG_CREDENTIALS
from chatcore.team.usage import COLUMN_LABELS, CSV_HEADER
from chatcore.wiring import Services, close_shared_services, shared_services
from storage import UsageRow, UserRecord
from tests.support.asgi import run_coroutine
from ui.usage_page import csv_download
from web.guard import SignInGuard
from web.signin import routes

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CHINESE = "zh-CN,zh;q=0.9"
PASSWORD = "a long enough password"


# --- the sign-in pages ----------------------------------------------------------------------


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        self.status, self.headers, self.body = status, headers, body


def request(
    app: Any,
    method: str = "GET",
    path: str = "/signin",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    """One HTTP request through the ASGI app, in-process."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8501),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    run_coroutine(main())
    start = next(m for m in sent if m["type"] == "http.response.start")
    found = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], found, text.decode())


@pytest.fixture
def signin_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Starlette]:
    for name in list(os.environ):  # nothing from the developer's shell may steer the app
        if name.startswith(("ANYAPI_", "ANYCHAT_", "OPENAI_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'signin.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    yield Starlette(routes=routes())
    close_shared_services()


def shown(language: str, msgid: str) -> str:
    """A msgid as a page in `language` writes it into HTML."""
    return html.escape(translator(language).gettext(msgid))


def test_the_sign_in_page_speaks_the_browsers_language(signin_app: Starlette) -> None:
    page = request(signin_app, headers={"Accept-Language": CHINESE})
    assert page.status == 200
    assert '<html lang="zh-CN">' in page.body
    assert page.headers["content-language"] == "zh-CN"
    assert page.headers["vary"] == "Accept-Language"
    # No account yet: the first administrator's form.
    for msgid in ("Create the administrator", "Username", "Setup code", "Create administrator"):
        assert shown("zh_CN", msgid) in page.body

    english = request(signin_app, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.body
    assert english.headers["content-language"] == "en"
    assert "Create the administrator" in english.body


def test_without_accept_language_the_server_default_decides(
    signin_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert '<html lang="en">' in request(signin_app).body
    monkeypatch.setenv("ANYCHAT_LANGUAGE", "zh_CN")
    page = request(signin_app)
    assert '<html lang="zh-CN">' in page.body
    assert page.headers["content-language"] == "zh-CN"
    # The browser's own language still wins over the server's default.
    assert '<html lang="en">' in request(signin_app, headers={"Accept-Language": "en"}).body


def test_a_refused_sign_in_is_told_in_the_browsers_language(signin_app: Starlette) -> None:
    accounts = shared_services(load_settings()).accounts
    accounts.create_first_admin("root", PASSWORD, accounts.setup_code())
    form = request(signin_app, headers={"Accept-Language": CHINESE})
    assert shown("zh_CN", "Sign in to AnyChat") in form.body
    csrf = form.headers["set-cookie"].split(";", 1)[0]  # anychat_csrf=<token>
    token = csrf.partition("=")[2]
    answer = request(
        signin_app,
        "POST",
        headers={
            "Accept-Language": CHINESE,
            "Cookie": csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=f"csrf={token}&username=root&password=wrong+password+here".encode(),
    )
    assert answer.status == 401
    assert '<html lang="zh-CN">' in answer.body
    assert shown("zh_CN", WRONG_CREDENTIALS.template) in answer.body


def test_the_sign_in_page_falls_back_to_fonts_every_reader_has(signin_app: Starlette) -> None:
    body = request(signin_app, headers={"Accept-Language": CHINESE}).body
    fonts = body.split("font-family:", 1)[1].split(";", 1)[0]
    families = [family.strip().strip('"') for family in fonts.split(",")]
    assert families[0] == "system-ui" and families[-1] == "sans-serif"
    for chinese in ("PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC"):
        assert chinese in families


def test_the_guards_refusal_is_in_the_browsers_language(
    signin_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy that named nobody: the plain-text refusal a person may read in the browser."""
    monkeypatch.setenv("ANYCHAT_AUTH", "proxy")

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the refused request reached the app")

    answer = request(SignInGuard(never), path="/", headers={"Accept-Language": CHINESE})
    assert answer.status == 401
    assert answer.headers["content-language"] == "zh-CN"
    assert answer.headers["vary"] == "Accept-Language"
    expected = translator("zh_CN").gettext(
        "The reverse proxy did not name a user in the {header} header, "
        "or that account is disabled.",
        header="X-Forwarded-User",
    )
    assert answer.body == expected


# --- the account's language -----------------------------------------------------------------


@pytest.fixture
def member(
    monkeypatch: pytest.MonkeyPatch, fake_api: Any, tmp_path: Path
) -> Iterator[tuple[Services, UserRecord]]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-i18n-team")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    monkeypatch.delenv("ANYCHAT_LANGUAGE", raising=False)
    services = shared_services(load_settings())
    mei = services.infra.users.create_user("mei")

    def reread(_services: Services) -> UserRecord | None:
        # Read afresh at every run, as the guard does at every message of a tab.
        return services.infra.users.get_user(mei.id)

    monkeypatch.setattr(ui.auth, "_resolve", reread)
    yield services, mei
    st.cache_resource.clear()
    close_shared_services()


def account_page(locale: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    if locale:
        at.context["locale"] = locale
    at.run()
    at.switch_page("pages/account.py").run()
    assert not at.exception, at.exception
    return at


def stored_language(services: Services, user: UserRecord) -> str | None:
    record = services.infra.users.get_user(user.id)
    assert record is not None
    return record.language


def reader_language(at: AppTest) -> str:
    return str(at.session_state["anychat_translator"].language)


def test_choosing_a_language_keeps_it_on_the_account(
    member: tuple[Services, UserRecord],
) -> None:
    services, mei = member
    at = account_page("en-US")
    language = at.selectbox(key="account_language")
    assert language.value == "auto"  # follows the browser until chosen
    assert "简体中文" in language.options and "English" in language.options

    language.set_value("zh_CN").run()
    assert not at.exception, at.exception
    assert stored_language(services, mei) == "zh_CN"
    # This very run is drawn in Chinese, although the browser asks for English.
    assert reader_language(at) == "zh_CN"
    assert at.title[0].value == translator("zh_CN").gettext("Account")
    assert at.selectbox(key="account_language").value == "zh_CN"

    at.run()  # and so is the next one
    assert reader_language(at) == "zh_CN"

    at.selectbox(key="account_language").set_value("auto").run()
    assert not at.exception, at.exception
    assert stored_language(services, mei) is None
    assert reader_language(at) == "en"  # the browser's, again


def test_the_choice_is_preselected_from_the_account(member: tuple[Services, UserRecord]) -> None:
    services, mei = member
    services.accounts.set_language(mei, "zh_CN")
    at = account_page("en-US")
    assert at.selectbox(key="account_language").value == "zh_CN"
    assert reader_language(at) == "zh_CN"
    assert at.title[0].value == translator("zh_CN").gettext("Account")


def test_following_the_browser_reads_its_locale(member: tuple[Services, UserRecord]) -> None:
    at = account_page("zh-CN")
    assert at.selectbox(key="account_language").value == "auto"
    assert reader_language(at) == "zh_CN"


# --- the usage CSV --------------------------------------------------------------------------

ROWS = [
    UsageRow(
        day=date(2026, 12, 1),
        model="gpt-4o",
        user_id=1,
        username="李雷",
        prompt_tokens=7,
        completion_tokens=5,
        total_tokens=12,
        replies=1,
    )
]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_usage_csv_has_the_readers_headers_and_a_bom(language: str) -> None:
    reader = translator(language)
    data = csv_download(ROWS, reader)
    assert data.startswith(codecs.BOM_UTF8)
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header == [reader.gettext(COLUMN_LABELS[column]) for column in CSV_HEADER]
    assert row == ["2026-12-01", "李雷", "gpt-4o", "1", "7", "5", "12"]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_usage_csv_names_its_cost_column_in_the_readers_language(language: str) -> None:
    reader = translator(language)
    data = csv_download(ROWS, reader, [Decimal("0.3")], "CNY")
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[-1] == reader.gettext("Cost ({currency})", currency="CNY")
    assert header[-1] == ("Cost (CNY)" if language == "en" else "费用（CNY）")
    assert row[-1] == "0.3"
