"""AnyChat with local accounts in a real browser: two teammates in two browser contexts.

Each test makes its own teammates (fresh usernames) directly in the app's database, signs them
in through the sign-in form and checks what each can see: their own history only, shared links,
quotas, signing out, and that nothing secret reaches a page or the log.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from chatcore.team.accounts import hash_password
from storage import Database, UserRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    chat_messages,
    history_entries,
    main_area,
    open_app,
    open_menu,
    send,
    sidebar,
    unique,
    user_messages,
    wait_for_app_run,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-browser-pass-7k2q"
PASSWORD = "teammate-pass-5x9w"
SESSION_COOKIE = "anychat_session"
SIGNIN_URL = re.compile(r"/signin(\?(next|ended)=[^#]*)?$")
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")
NOT_FOUND = "Conversation not found. It may have been deleted."
WRONG_CREDENTIALS = "Wrong username or password."
SHARE_REVOKED = "This shared link does not exist, or its owner revoked it."


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    """Local accounts, with an administrator created at start."""
    return {
        "ANYCHAT_AUTH": "local",
        "ANYCHAT_ADMIN_USER": ADMIN_USER,
        "ANYCHAT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


class AppServer(Protocol):
    """What conftest's `app_server` fixture gives (a tests.support.app_process.AppProcess)."""

    url: str
    log_path: Path

    def log_text(self) -> str: ...


@dataclass(frozen=True)
class Teammate:
    id: int
    username: str
    password: str


@pytest.fixture(scope="module")
def accounts(app_server: AppServer) -> Iterator[UserRepository]:
    """The app's account tables, opened from the test process."""
    # The app migrates its database (and creates the administrator) on its first request.
    with urllib.request.urlopen(f"{app_server.url}/signin", timeout=LOAD_TIMEOUT / 1000) as reply:
        assert reply.status == 200
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    yield UserRepository(database)
    database.dispose()


@pytest.fixture
def teammate(accounts: UserRepository) -> Callable[[], Teammate]:
    """Makes a member with a fresh username and a password."""

    def make() -> Teammate:
        username = unique("mate")
        user = accounts.create_user(username, password_hash=hash_password(PASSWORD))
        return Teammate(user.id, username, PASSWORD)

    return make


# -- helpers --------------------------------------------------------------------------------


def button(page: Page, name: str) -> Locator:
    """A button of the chat area by its exact label (see test_chat_browser.button)."""
    return main_area(page).get_by_role("button", name=name, exact=True)


def fill_sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(page: Page, app_url: str, username: str, password: str) -> None:
    """Open the app, get sent to the sign-in form, sign in and land on the chat page."""
    page.goto(app_url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    fill_sign_in(page, username, password)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(sidebar(page).get_by_text(f"Signed in as {username}", exact=True)).to_be_visible()


def signed_in_page(
    new_browser_context: Callable[..., BrowserContext], app_url: str, mate: Teammate
) -> Page:
    page = new_browser_context().new_page()
    sign_in(page, app_url, mate.username, mate.password)
    return page


def session_token(context: BrowserContext) -> str:
    tokens = [c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(tokens) == 1, context.cookies()
    return tokens[0]


def conversation_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None, page.url
    return match.group(1)


def reply_body(page: Page) -> Locator:
    return assistant_messages(page).last.get_by_test_id("stMarkdownContainer").first


def wait_until_finished(page: Page, text: str) -> None:
    """The newest reply shows `text` and its usage caption, and no Stop button is left."""
    expect(reply_body(page)).to_have_text(text, timeout=REPLY_TIMEOUT)
    caption = assistant_messages(page).last.get_by_test_id("stCaptionContainer")
    expect(caption.filter(has_text=" tokens")).to_contain_text(re.compile(r"completion = \d+"))
    expect(button(page, "Stop")).to_have_count(0)


def chat(page: Page, tag: str, answer: str) -> str:
    """Send `tag` and get `answer` back; returns the new conversation's id."""
    send(page, f"{tag} [[reply:{answer}]]")
    wait_until_finished(page, answer)
    return conversation_id(page)


def assert_no_app_errors(page: Page, log_text: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert "Traceback" not in log_text, log_text


# -- scenarios ------------------------------------------------------------------------------


def test_each_user_sees_only_their_own_history(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
    server_log: Callable[[], str],
) -> None:
    """A and B chat at the same time; each one's sidebar lists their own conversation only."""
    mate_a, mate_b = teammate(), teammate()
    page_a = signed_in_page(new_browser_context, app_url, mate_a)
    page_b = signed_in_page(new_browser_context, app_url, mate_b)
    tag_a, tag_b = unique("alpha"), unique("bravo")

    chat(page_a, tag_a, unique("answer"))
    chat(page_b, tag_b, unique("answer"))

    for page, own, other in ((page_a, tag_a, tag_b), (page_b, tag_b, tag_a)):
        open_app(page, app_url)  # a fresh session: the list as stored
        entries = history_entries(page)
        expect(entries).to_have_count(1, timeout=LOAD_TIMEOUT)
        expect(entries.first).to_contain_text(own)
        expect(page.get_by_text(other)).to_have_count(0)
        assert_no_app_errors(page, server_log())


def test_another_users_conversation_is_not_found(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
    fresh_fake: FakeOpenAI,
    server_log: Callable[[], str],
) -> None:
    """B opening A's ?c= link sees "not found", none of A's messages, and cannot write to it."""
    mate_a, mate_b = teammate(), teammate()
    page_a = signed_in_page(new_browser_context, app_url, mate_a)
    tag, answer = unique("private"), unique("secret-answer")
    opened = chat(page_a, tag, answer)
    page_b = signed_in_page(new_browser_context, app_url, mate_b)

    open_app(page_b, f"{app_url}/?c={opened}")

    expect(main_area(page_b).get_by_text(NOT_FOUND)).to_be_visible()
    expect(chat_messages(page_b)).to_have_count(0)
    expect(page_b.get_by_text(tag)).to_have_count(0)
    expect(page_b.get_by_text(answer)).to_have_count(0)
    expect(history_entries(page_b)).to_have_count(0)

    # Writing into it from that URL is refused too: nothing sent, nothing added to A's chat.
    send(page_b, "let me in")
    expect(main_area(page_b).get_by_text("That conversation no longer exists.")).to_be_visible()
    expect(chat_messages(page_b)).to_have_count(0)
    assert len(fresh_fake.chat_requests()) == 1
    open_app(page_a, f"{app_url}/?c={opened}")
    expect(chat_messages(page_a)).to_have_count(2)
    expect(page_a.get_by_text("let me in")).to_have_count(0)
    expect(reply_body(page_a)).to_have_text(answer)
    assert_no_app_errors(page_b, server_log())


def test_sign_in_lasts_until_sign_out(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
    server_log: Callable[[], str],
) -> None:
    """Reloads and new tabs stay signed in; signing out ends the session, even for a copy of
    the cookie, and the tab still open elsewhere."""
    mate = teammate()
    context = new_browser_context()
    page = context.new_page()
    sign_in(page, app_url, mate.username, mate.password)
    token = session_token(context)

    page.reload()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(sidebar(page).get_by_text(f"Signed in as {mate.username}")).to_be_visible()
    other_tab = context.new_page()
    open_app(other_tab, app_url)
    expect(sidebar(other_tab).get_by_text(f"Signed in as {mate.username}")).to_be_visible()
    assert not SIGNIN_URL.search(other_tab.url), other_tab.url

    sidebar(page).get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)  # the post and its redirect

    page.reload()
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(page.get_by_label("Username")).to_be_visible()
    assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []
    page.goto(app_url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(page.get_by_test_id("stApp")).to_have_count(0)

    # The tab left open is sent to the sign-in form at its next action.
    sidebar(other_tab).get_by_role("button", name="New chat", exact=True).click()
    expect(other_tab).to_have_url(re.compile(r"/signin\?ended=1$"), timeout=LOAD_TIMEOUT)
    expect(other_tab.get_by_test_id("stChatInputTextArea")).to_have_count(0)

    # A copy of the old cookie is worth nothing now.
    stolen = new_browser_context()
    stolen.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": app_url}])
    thief = stolen.new_page()
    thief.goto(app_url)
    expect(thief).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(thief.get_by_test_id("stApp")).to_have_count(0)
    assert_no_app_errors(other_tab, server_log())


def test_sign_out_takes_this_tab_to_the_sign_in_form(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
) -> None:
    """Sign out leaves the tab it was clicked in on the sign-in form, and opens no other tab
    (a tab still showing the conversations after "Sign out" is a leak on a shared computer)."""
    page = signed_in_page(new_browser_context, app_url, teammate())
    opened: list[Page] = []
    page.context.on("page", lambda tab: opened.append(tab))

    sidebar(page).get_by_role("button", name="Sign out", exact=True).click()

    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_test_id("stApp")).to_have_count(0)
    assert [tab.url for tab in opened] == []


def test_shared_link_is_read_only_copyable_and_revocable(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
    fresh_fake: FakeOpenAI,
    server_log: Callable[[], str],
) -> None:
    """B reads A's shared conversation, continues it as B's own copy; A revokes the link."""
    mate_a, mate_b = teammate(), teammate()
    page_a = signed_in_page(new_browser_context, app_url, mate_a)
    tag, answer = unique("shared"), unique("shared-answer")
    opened = chat(page_a, tag, answer)

    menu = open_menu(page_a, tag)
    menu.get_by_role("button", name="Share read-only with the team").click()
    link_text = menu.get_by_test_id("stCode").locator("code")
    expect(link_text).to_have_text(re.compile(r"\?share=\S+"))
    link = link_text.inner_text().strip()
    assert link.startswith(f"{app_url}/?share="), link
    revoke = menu.get_by_role("button", name=re.compile(r"^Revoke the link made "))
    expect(revoke).to_have_count(1)

    page_b = signed_in_page(new_browser_context, app_url, mate_b)
    page_b.goto(link)
    expect(main_area(page_b).get_by_text("Shared read-only by a teammate.")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    expect(user_messages(page_b)).to_have_count(1)
    expect(user_messages(page_b).first).to_contain_text(tag)
    expect(assistant_messages(page_b)).to_have_count(1)
    expect(reply_body(page_b)).to_have_text(answer)
    expect(page_b.get_by_test_id("stChatInput")).to_have_count(0)

    button(page_b, "Continue as my own copy").click()

    copied = conversation_id(page_b)
    assert copied != opened
    expect(page_b.get_by_test_id("stChatInputTextArea")).to_be_editable()
    expect(user_messages(page_b)).to_have_count(1)
    expect(user_messages(page_b).first).to_contain_text(tag)
    expect(reply_body(page_b)).to_have_text(answer)
    open_app(page_b, app_url)
    entries = history_entries(page_b)
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(f"{tag} [[reply:{answer}]] (copy)")
    entries.first.click()
    expect(page_b).to_have_url(re.compile(rf"\?c={copied}$"))
    expect(reply_body(page_b)).to_have_text(answer)

    revoke.click()
    expect(revoke).to_have_count(0)

    page_b.goto(link)
    expect(main_area(page_b).get_by_text(SHARE_REVOKED)).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(chat_messages(page_b)).to_have_count(0)
    expect(button(page_b, "Continue as my own copy")).to_have_count(0)
    # B's copy is B's and stays; A's original is untouched.
    open_app(page_b, f"{app_url}/?c={copied}")
    expect(reply_body(page_b)).to_have_text(answer)
    open_app(page_a, f"{app_url}/?c={opened}")
    expect(chat_messages(page_a)).to_have_count(2)
    assert len(fresh_fake.chat_requests()) == 1
    assert_no_app_errors(page_b, server_log())


def test_over_quota_is_refused_and_nothing_is_sent(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
    accounts: UserRepository,
    fresh_fake: FakeOpenAI,
    server_log: Callable[[], str],
) -> None:
    """Once the day's tokens are used up, a message is refused and handed back unsent."""
    mate = teammate()
    page = signed_in_page(new_browser_context, app_url, mate)
    chat(page, unique("quota"), unique("answer"))
    assert len(fresh_fake.chat_requests()) == 1
    assert accounts.set_quota(mate.id, 1, "day")

    refused = unique("refused")
    send(page, refused)

    warning = main_area(page).get_by_test_id("stAlertContentWarning")
    expect(warning).to_contain_text(
        re.compile(r"You have used [\d,]+ of your 1 tokens today"), timeout=REPLY_TIMEOUT
    )
    unsent = main_area(page).get_by_test_id("stExpander").filter(has_text="Your message (not sent)")
    unsent.get_by_text("Your message (not sent)").click()
    expect(unsent.get_by_test_id("stCode")).to_have_text(refused)
    expect(chat_messages(page)).to_have_count(2)
    expect(user_messages(page).filter(has_text=refused)).to_have_count(0)
    assert len(fresh_fake.chat_requests()) == 1
    open_app(page, page.url)
    expect(chat_messages(page)).to_have_count(2)
    expect(page.get_by_text(refused)).to_have_count(0)
    assert len(fresh_fake.chat_requests()) == 1
    assert_no_app_errors(page, server_log())


def test_wrong_password_or_unknown_user_stays_on_sign_in(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    teammate: Callable[[], Teammate],
) -> None:
    """The same message for a wrong password and an unknown user, and no session either way."""
    mate = teammate()
    context = new_browser_context()
    page = context.new_page()
    page.goto(app_url)
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)

    for username, password in ((mate.username, "wrong-password-123"), (unique("nobody"), PASSWORD)):
        fill_sign_in(page, username, password)
        expect(page.get_by_role("alert")).to_have_text(WRONG_CREDENTIALS)
        expect(page).to_have_url(SIGNIN_URL)
        expect(page.get_by_label("Username")).to_have_value(username)
        expect(page.get_by_label("Password")).to_have_value("")
        assert [c for c in context.cookies() if c["name"] == SESSION_COOKIE] == []

    # The right password still works afterwards.
    fill_sign_in(page, mate.username, mate.password)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)


def test_secrets_stay_on_the_server_and_model_html_is_text(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    app_server: AppServer,
    app_api_key: str,
    fresh_fake: FakeOpenAI,
    server_log: Callable[[], str],
) -> None:
    """No API key, password hash or session token in any page or the log; cookies are HttpOnly;
    HTML in a reply is shown, not run; Streamlit's XSRF protection is on."""
    context = new_browser_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, app_url, ADMIN_USER, ADMIN_PASSWORD)
    token = session_token(context)
    secrets = {"API key": app_api_key, "password hash": "$argon2", "session token": token}

    def assert_nothing_secret(where: str) -> None:
        content = page.content()
        for name, value in secrets.items():
            assert value not in content, f"{name} in the {where} page"

    html = '<script>window.__x=1</script> and <img src=x onerror="window.__y=1"> done'
    fresh_fake.enqueue(Behavior(text=html))
    # The question (and so the title, in the header and the sidebar) carries markup too.
    tag = unique("markup")
    send(page, f'{tag} <img src=x onerror="window.__z=1">')
    reply = reply_body(page)
    expect(reply).to_contain_text("<script>window.__x=1</script>", timeout=REPLY_TIMEOUT)
    expect(reply).to_contain_text('<img src=x onerror="window.__y=1">')
    expect(page.get_by_text("<script>", exact=False).first).to_be_visible()
    expect(reply.locator("script, img")).to_have_count(0)
    title = f'{tag} <img src=x onerror="window.__z=1">'
    expect(main_area(page).get_by_role("heading", name=title)).to_be_visible()
    expect(history_entries(page).filter(has_text=title)).to_have_count(1)
    expect(page.locator("img[src=x]")).to_have_count(0)
    conversation_id(page)
    assert page.evaluate("typeof window.__x") == "undefined"
    assert page.evaluate("typeof window.__y") == "undefined"
    assert page.evaluate("typeof window.__z") == "undefined"
    assert dialogs == []
    assert_nothing_secret("chat")

    pages = ("usage", "Usage"), ("account", "Account"), ("status", "Status"), ("admin", "Admin")
    for path, heading in pages:
        page.goto(f"{app_url}/{path}")
        expect(main_area(page).get_by_role("heading", name=heading, exact=True)).to_be_visible(
            timeout=LOAD_TIMEOUT
        )
        wait_for_app_run(page)
        assert_nothing_secret(path)
    # The admin page's table of teammates (sorted by name, "admin" first), then one opened.
    grid = main_area(page).get_by_test_id("stDataFrame")
    expect(grid.get_by_test_id("glide-cell-0-0")).to_have_text(ADMIN_USER)
    assert_nothing_secret("admin")
    main_area(page).get_by_test_id("stSelectbox").filter(has_text="Manage").click()
    page.get_by_role("option", name=ADMIN_USER, exact=True).click()
    reset = main_area(page).get_by_role("button", name="Reset password (ends their sessions)")
    expect(reset).to_be_visible()
    wait_for_app_run(page)
    assert_nothing_secret("admin")

    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert cookies[SESSION_COOKIE]["httpOnly"] is True, cookies
    assert cookies[SESSION_COOKIE]["sameSite"] == "Lax", cookies
    assert "_streamlit_xsrf" in cookies, sorted(cookies)
    log = app_server.log_text()
    for name, value in secrets.items():
        assert value not in log, f"{name} in the server log"
    assert page.evaluate("typeof window.__x") == "undefined"
    assert page.evaluate("typeof window.__y") == "undefined"
    assert page.evaluate("typeof window.__z") == "undefined"
    assert dialogs == []
    assert_no_app_errors(page, server_log())
