"""An ended session ends everywhere: two tabs of one teammate, sign out (or change the password)
in one, and every kind of action in the other does nothing and shows that it is signed out.

Streamlit runs a widget's callback before the page script, so these actions (a chat message, a
share link, an administrator's "Create", a preset, a personal key) would run before any check
at the top of a page; the guard re-checks the session at every message the tab sends instead.
A tab whose connection drops after its session ended is sent to the sign-in page when it
reconnects. The first test also opens a page by URL as the very first run of a fresh server, when
Streamlit would otherwise serve scripts in pages/ directly (its legacy page discovery).
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from chatcore.team.accounts import hash_password
from storage import ChatRepository, Database, KeyRepository, ShareRepository, UserRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    main_area,
    open_app,
    send,
    sidebar,
)
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.browser

PASSWORD = "teammate-pass-5x9w"
ENDED_URL = re.compile(r"/signin\?ended=1$")
ENDED_NOTE = "Your session has ended. Sign in again to continue."
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    return {
        "ANYCHAT_AUTH": "local",
        "ANYCHAT_ADMIN_USER": "root",
        "ANYCHAT_ADMIN_PASSWORD": "root-browser-pass-3k8d",
    }


@dataclass(frozen=True)
class Stores:
    users: UserRepository
    chats: ChatRepository
    shares: ShareRepository
    keys: KeyRepository


@pytest.fixture(scope="module")
def stores(app_url: str, app_server: object) -> Iterator[Stores]:
    """The app's tables, opened from the test process once the app has migrated them."""
    with urllib.request.urlopen(f"{app_url}/signin", timeout=LOAD_TIMEOUT / 1000) as reply:
        assert reply.status == 200
    log_path: Path = app_server.log_path  # type: ignore[attr-defined]
    database = Database(f"sqlite:///{log_path.parent / 'anychat.db'}")
    yield Stores(
        UserRepository(database),
        ChatRepository(database),
        ShareRepository(database),
        KeyRepository(database),
    )
    database.dispose()


def make_teammate(stores: Stores, role: str = "member") -> str:
    name = f"mate-{uuid.uuid4().hex[:10]}"
    stores.users.create_user(name, password_hash=hash_password(PASSWORD), role=role)
    return name


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    expect(page.get_by_label("Username")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.get_by_label("Username").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Page) -> None:
    sidebar(page).get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_label("Username")).to_be_visible(timeout=LOAD_TIMEOUT)


def nav(page: Page, title: str) -> None:
    page.get_by_role("navigation", name="App pages").get_by_role(
        "link", name=title, exact=True
    ).click()


def expect_signed_out(page: Page) -> None:
    """The tab left open now shows the sign-in form, saying why, and no app at all."""
    expect(page).to_have_url(ENDED_URL, timeout=LOAD_TIMEOUT)
    expect(page.get_by_text(ENDED_NOTE)).to_be_visible()
    expect(page.get_by_test_id("stApp")).to_have_count(0)


def test_a_page_opened_by_url_right_after_a_start_checks_its_user(
    new_browser_context: Callable[..., BrowserContext], app_url: str, stores: Stores
) -> None:
    """The first script run of this server is a member's, straight to /admin."""
    member = make_teammate(stores)
    page = new_browser_context().new_page()
    sign_in(page, f"{app_url}/admin", member)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=LOAD_TIMEOUT
    )
    expect(page.get_by_text("Add a teammate")).to_have_count(0)
    expect(page.get_by_text("Manage")).to_have_count(0)


# Each action: (role, prepare the second tab before the sign-out, act after it, check nothing
# happened). Preparing leaves the action one click or keypress away.
def _prepare_send(page: Page) -> None:
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)


def _act_send(page: Page) -> None:
    send(page, "after sign-out [[reply:should never be asked]]")


def _prepare_share(page: Page) -> None:
    send(page, "to share [[reply:shared answer]]")
    expect(assistant_messages(page).last).to_contain_text("shared answer", timeout=REPLY_TIMEOUT)
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    header = (
        main_area(page)
        .get_by_test_id("stHorizontalBlock")
        .filter(has=page.get_by_role("heading", name="to share"))
    )
    header.get_by_test_id("stPopoverButton").filter(visible=True).click()
    # The menu's content is drawn by the run its opening starts.
    expect(
        page.get_by_test_id("stPopoverBody").get_by_role(
            "button", name="Share read-only with the team"
        )
    ).to_be_visible(timeout=LOAD_TIMEOUT)


def _act_share(page: Page) -> None:
    body = page.get_by_test_id("stPopoverBody")
    body.get_by_role("button", name="Share read-only with the team").click()


def _prepare_create_user(page: Page) -> None:
    nav(page, "Admin")
    expect(page.get_by_text("Add a teammate")).to_be_visible(timeout=LOAD_TIMEOUT)
    form = page.get_by_test_id("stForm").last
    form.get_by_label("Username").fill("intruder-admin")
    form.get_by_role("textbox", name="Password").fill("an intruder's password")
    form.get_by_text("administrator", exact=True).click()


def _act_create_user(page: Page) -> None:
    page.get_by_test_id("stForm").last.get_by_role("button", name="Create").click()


def _prepare_preset(page: Page) -> None:
    sidebar(page).get_by_text("Presets", exact=True).click()
    box = sidebar(page).get_by_label("Save current settings as")
    expect(box).to_be_visible(timeout=LOAD_TIMEOUT)
    box.fill("after sign-out preset")


def _act_preset(page: Page) -> None:
    sidebar(page).get_by_role("button", name="Save preset").click()


def _prepare_key(page: Page) -> None:
    nav(page, "Account")
    box = page.get_by_label("AnyAPI key")
    expect(box).to_be_visible(timeout=LOAD_TIMEOUT)
    box.fill("sk-after-sign-out")


def _act_key(page: Page) -> None:
    page.get_by_role("button", name="Save key").click()


ACTIONS = {
    "send": ("member", _prepare_send, _act_send),
    "share": ("member", _prepare_share, _act_share),
    "create_user": ("admin", _prepare_create_user, _act_create_user),
    "save_preset": ("member", _prepare_preset, _act_preset),
    "save_key": ("member", _prepare_key, _act_key),
}


def _effects(stores: Stores, name: str) -> dict[str, object]:
    """Everything the actions above could have left behind."""
    user = stores.users.find_user(name)
    assert user is not None
    conversations = stores.chats.list_conversations(user.id, limit=50).items
    return {
        "conversations": [c.id for c in conversations],
        "shares": sum(len(stores.shares.active_shares(user.id, c.id)) for c in conversations),
        "intruder": stores.users.find_user("intruder-admin") is not None,
        "presets": [p.name for p in stores.chats.list_presets(user.id)],
        "key": stores.keys.has_personal_key(user.id),
    }


@pytest.mark.parametrize("action", list(ACTIONS))
def test_after_sign_out_in_one_tab_the_other_cannot_act(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    stores: Stores,
    fresh_fake: FakeOpenAI,
    action: str,
) -> None:
    role, prepare, act = ACTIONS[action]
    name = make_teammate(stores, role)
    context = new_browser_context()
    first, second = context.new_page(), context.new_page()
    sign_in(first, app_url, name)
    open_app(first, app_url)
    open_app(second, app_url)
    prepare(second)
    expect(second.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=LOAD_TIMEOUT
    )
    before = _effects(stores, name)
    asked = len(fresh_fake.chat_requests())

    sign_out(first)
    act(second)

    try:
        expect_signed_out(second)
    finally:  # also when the page did not move: did the action run anyway?
        assert _effects(stores, name) == before
        assert len(fresh_fake.chat_requests()) == asked


# Keeps every websocket the page opens within reach, so a test can drop its connection.
KEEP_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.anychatSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.anychatSockets.push(this); }
  };
})();
"""


def test_a_tab_whose_connection_drops_after_the_sign_out_is_sent_to_sign_in(
    new_browser_context: Callable[..., BrowserContext], app_url: str, stores: Stores
) -> None:
    """Reconnecting (a blip, a restart) with no session left, the tab shows the sign-in page
    and why, instead of retrying for ever over a greyed-out app."""
    name = make_teammate(stores)
    context = new_browser_context()
    context.add_init_script(KEEP_SOCKETS)
    first, second = context.new_page(), context.new_page()
    sign_in(first, app_url, name)
    open_app(first, app_url)
    open_app(second, app_url)
    sign_out(first)

    second.evaluate("window.anychatSockets.at(-1).close()")
    expect_signed_out(second)


def test_a_password_change_in_one_tab_signs_out_the_others(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    stores: Stores,
    fresh_fake: FakeOpenAI,
) -> None:
    """The tab that changed the password stays signed in; another browser's tab does not."""
    name = make_teammate(stores)
    here = new_browser_context().new_page()
    elsewhere = new_browser_context().new_page()
    sign_in(here, app_url, name)
    sign_in(elsewhere, app_url, name)
    open_app(elsewhere, app_url)

    open_app(here, app_url)
    nav(here, "Account")
    here.get_by_label("Current password").fill(PASSWORD)
    here.get_by_label("New password", exact=True).fill("a brand new password 42")
    here.get_by_label("Repeat the new password").fill("a brand new password 42")
    here.get_by_role("button", name="Change password").click()
    expect(here.get_by_text("Password changed.", exact=False)).to_be_visible(timeout=LOAD_TIMEOUT)

    _act_send(elsewhere)
    expect_signed_out(elsewhere)
    assert fresh_fake.chat_requests() == []
    nav(here, "Chat")
    expect(here.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
