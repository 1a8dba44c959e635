"""The interface in the reader's language, in a real browser: the browser's language decides,
from the sign-in page to an error on the Admin page, until the person chooses on the Account
page, which switches the very next page at once.

Expected text is looked up through the catalogue (never typed here), and every page's text is
held against the whole catalogue: no English sentence of ours on a Chinese page, no Chinese on
an English one.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from chatcore.i18n import Translator, translator
from chatcore.team.accounts import hash_password
from storage import Database, UserRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    choose_option,
    main_area,
    send,
    sidebar,
    wait_for_app_run,
)
from tests.support.app_process import AppProcess
from tests.support.i18n import chinese_in, english_of_ours

pytestmark = pytest.mark.browser

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-languages-pass-3j8d"
SIGNIN_URL = re.compile(r"/signin(\?(next|ended)=[^#]*)?$")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ZH = translator("zh_CN")
EN = translator("en")


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    return {
        "ANYCHAT_AUTH": "local",
        "ANYCHAT_ADMIN_USER": ADMIN_USER,
        "ANYCHAT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


@pytest.fixture(scope="module")
def accounts(app_server: AppProcess) -> Iterator[UserRepository]:
    """The app's account tables (the app migrates and creates the admin on its first request)."""
    with urllib.request.urlopen(f"{app_server.url}/signin", timeout=LOAD_TIMEOUT / 1000) as reply:
        assert reply.status == 200
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    yield UserRepository(database)
    database.dispose()


def _member(accounts: UserRepository) -> tuple[str, str]:
    username = f"mate-{uuid.uuid4().hex[:10]}"
    password = "teammate-languages-9q2w"
    accounts.create_user(username, password_hash=hash_password(password))
    return username, password


def _page_text(page: Page) -> list[str]:
    """What the reader sees: every line of the page, and the placeholders of its inputs."""
    page.wait_for_timeout(300)  # the run's last deltas
    lines = [line.strip() for line in page.inner_text("body").splitlines() if line.strip()]
    placeholders = page.locator("[placeholder]").evaluate_all(
        "nodes => nodes.map(node => node.getAttribute('placeholder'))"
    )
    return lines + [text for text in placeholders if text]


def _sign_in(page: Page, url: str, t: Translator, username: str, password: str) -> None:
    page.goto(url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    page.get_by_label(t.gettext("Username")).fill(username)
    page.get_by_label(t.gettext("Password"), exact=True).fill(password)
    page.get_by_role("button", name=t.gettext("Sign in"), exact=True).click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)


def _go(page: Page, t: Translator, title: str) -> None:
    """Open a page from the top navigation by its title in `t`'s language."""
    page.get_by_role("link", name=t.gettext(title), exact=True).click()
    if title == "Chat":  # the chat page has the chat box where others have a heading
        landed = page.get_by_test_id("stChatInputTextArea")
    else:
        landed = main_area(page).get_by_role("heading", name=t.gettext(title))
    expect(landed).to_be_visible(timeout=LOAD_TIMEOUT)
    # The heading shows before the run has drawn the rest: a click meanwhile can land on a
    # widget the run is about to replace (seen on a loaded machine, on the Language box).
    wait_for_app_run(page)


def test_a_chinese_browser_reads_chinese_until_english_is_chosen(
    new_browser_context: Callable[..., BrowserContext], app_url: str, accounts: UserRepository
) -> None:
    admin = accounts.find_user(ADMIN_USER)
    assert admin is not None
    accounts.set_language(admin.id, None)  # follows the browser
    page = new_browser_context(locale="zh-CN", timezone_id="Asia/Shanghai").new_page()

    page.goto(app_url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name=ZH.gettext("Sign in to AnyChat"))).to_be_visible()
    assert english_of_ours(_page_text(page)) == []

    _sign_in(page, app_url, ZH, ADMIN_USER, ADMIN_PASSWORD)
    box = page.get_by_test_id("stChatInputTextArea")
    assert chinese_in([box.get_attribute("placeholder") or ""])
    expect(sidebar(page).get_by_role("button", name=ZH.gettext("New chat"))).to_be_visible()
    assert english_of_ours(_page_text(page)) == []

    # The upstream's 429, explained in Chinese, with the wait it asked for.
    send(page, "[[status:429 retry:7]] 你好")
    alert = main_area(page).get_by_test_id("stAlertContentError").last
    expect(alert).to_contain_text("429", timeout=REPLY_TIMEOUT)
    expect(alert).to_contain_text("7")
    assert chinese_in([alert.inner_text()])
    assert english_of_ours(_page_text(page)) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-chat-zh-CN.png"), full_page=True)

    for title in ("Usage", "Admin", "Account"):
        _go(page, ZH, title)
        assert english_of_ours(_page_text(page)) == [], title

    # An error on the Admin page, in Chinese: a name that is not allowed.
    _go(page, ZH, "Admin")
    main_area(page).get_by_label(ZH.gettext("Username"), exact=True).fill("x")
    main_area(page).get_by_label(ZH.gettext("Password"), exact=True).fill("short")
    main_area(page).get_by_role("button", name=ZH.gettext("Create"), exact=True).click()
    refusal = main_area(page).get_by_test_id("stAlertContentError")
    expect(refusal).to_be_visible(timeout=LOAD_TIMEOUT)
    assert chinese_in([refusal.inner_text()])
    assert english_of_ours(_page_text(page)) == []

    # Choosing English on the Account page: this page and the next are English at once.
    _go(page, ZH, "Account")
    language = main_area(page).get_by_test_id("stSelectbox").filter(has_text=ZH.gettext("Language"))
    choose_option(page, language, "English")
    expect(main_area(page).get_by_role("heading", name="Account")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    _go(page, EN, "Chat")
    expect(sidebar(page).get_by_role("button", name="New chat")).to_be_visible()
    # Only what the person wrote (the question, the title taken from it) stays Chinese.
    assert [text for text in chinese_in(_page_text(page)) if "你好" not in text] == []
    user = accounts.get_user(admin.id)
    assert user is not None and user.language == "en"
    accounts.set_language(admin.id, None)


def test_an_english_browser_reads_english_everywhere(
    new_browser_context: Callable[..., BrowserContext], app_url: str, accounts: UserRepository
) -> None:
    username, password = _member(accounts)
    page = new_browser_context(locale="en-US").new_page()
    page.goto(app_url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert chinese_in(_page_text(page)) == []

    _sign_in(page, app_url, EN, username, password)
    send(page, "[[status:429 retry:7]] hello")
    alert = main_area(page).get_by_test_id("stAlertContentError").last
    expect(alert).to_contain_text("rate limiting", timeout=REPLY_TIMEOUT)
    assert chinese_in(_page_text(page)) == []
    for title in ("Usage", "Account"):
        _go(page, EN, title)
        assert chinese_in(_page_text(page)) == [], title
    # A language is offered by its own name, whatever the page's language.
    main_area(page).get_by_test_id("stSelectbox").filter(has_text="Language").click()
    expect(page.get_by_role("option", name="简体中文", exact=True)).to_be_visible()
