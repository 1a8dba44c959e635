"""AnyChat behind a reverse proxy that names the user (ANYCHAT_AUTH=proxy), in a real browser.

The proxy is played by Playwright: each browser context sends `X-Forwarded-User` with every
request, the websocket's included. The app runs fresh for this module, so the first name it
sees becomes the first account, and with it the administrator.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    chat_messages,
    history_entries,
    main_area,
    open_app,
    send,
    sidebar,
    unique,
)

pytestmark = pytest.mark.browser

HEADER = "X-Forwarded-User"
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")
NOT_FOUND = "Conversation not found. It may have been deleted."


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    """The reverse proxy names the user; no administrator is configured."""
    return {"ANYCHAT_AUTH": "proxy"}


# -- helpers --------------------------------------------------------------------------------


def page_as(new_browser_context: Callable[..., BrowserContext], app_url: str, name: str) -> Page:
    """A page whose every request carries `X-Forwarded-User: name`, on the chat page."""
    page = new_browser_context(extra_http_headers={HEADER: name}).new_page()
    open_app(page, app_url)
    expect(sidebar(page).get_by_text(f"Signed in as {name}", exact=True)).to_be_visible()
    return page


def nav_link(page: Page, title: str) -> Locator:
    """A page link of the top navigation."""
    nav = page.get_by_role("navigation", name="App pages")
    return nav.get_by_role("link", name=title, exact=True)


def chat(page: Page, tag: str, answer: str) -> str:
    """Send `tag`, get `answer` back; returns the new conversation's id."""
    send(page, f"{tag} [[reply:{answer}]]")
    reply = assistant_messages(page).last
    expect(reply.get_by_test_id("stMarkdownContainer").first).to_have_text(
        answer, timeout=REPLY_TIMEOUT
    )
    expect(reply.get_by_test_id("stCaptionContainer").filter(has_text=" tokens")).to_be_visible()
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None, page.url
    return match.group(1)


def assert_no_app_errors(page: Page, log_text: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert "Traceback" not in log_text, log_text


# -- scenarios ------------------------------------------------------------------------------


def test_each_named_user_gets_an_account_and_only_their_history(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    server_log: Callable[[], str],
) -> None:
    """alice (seen first, so administrator) and bob each see only their own conversations."""
    alice = page_as(new_browser_context, app_url, "alice")
    expect(nav_link(alice, "Admin")).to_be_visible()
    expect(sidebar(alice).get_by_role("button", name="Sign out")).to_have_count(0)
    bob = page_as(new_browser_context, app_url, "bob")
    expect(nav_link(bob, "Usage")).to_be_visible()
    expect(nav_link(bob, "Admin")).to_have_count(0)
    expect(nav_link(bob, "Status")).to_have_count(0)

    tag_a, tag_b = unique("alice"), unique("bob")
    opened_a = chat(alice, tag_a, unique("answer"))
    chat(bob, tag_b, unique("answer"))

    for page, own, other in ((alice, tag_a, tag_b), (bob, tag_b, tag_a)):
        open_app(page, app_url)  # a fresh session: the list as stored
        entries = history_entries(page)
        expect(entries).to_have_count(1, timeout=LOAD_TIMEOUT)
        expect(entries.first).to_contain_text(own)
        expect(page.get_by_text(other)).to_have_count(0)

    open_app(bob, f"{app_url}/?c={opened_a}")
    expect(main_area(bob).get_by_text(NOT_FOUND)).to_be_visible()
    expect(chat_messages(bob)).to_have_count(0)
    expect(bob.get_by_text(tag_a)).to_have_count(0)
    bob.goto(f"{app_url}/admin")  # not listed for bob; typing its address must not open it
    expect(bob.get_by_role("dialog").get_by_text("Page not found")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    expect(main_area(bob).get_by_role("heading", name="What can I help with?")).to_be_visible()
    expect(main_area(bob).get_by_role("heading", name="Admin", exact=True)).to_have_count(0)
    expect(bob.get_by_test_id("stDataFrame")).to_have_count(0)

    # The administrator's table: two accounts made on first sight, from the proxy.
    nav_link(alice, "Admin").click()
    expect(main_area(alice).get_by_role("heading", name="Admin", exact=True)).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    grid = main_area(alice).get_by_test_id("stDataFrame")
    rows = [
        ("alice", "administrator", "active", "reverse proxy"),
        ("bob", "member", "active", "reverse proxy"),
    ]
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            expect(grid.get_by_test_id(f"glide-cell-{column}-{row}")).to_have_text(value)
    expect(grid.locator("tbody tr")).to_have_count(2)
    assert_no_app_errors(alice, server_log())
    assert_no_app_errors(bob, server_log())


def test_without_the_header_the_answer_is_401(
    new_browser_context: Callable[..., BrowserContext], app_url: str
) -> None:
    """No X-Forwarded-User: 401 and a text naming the header, on every app path."""
    page = new_browser_context().new_page()
    for path in ("/", "/usage", "/admin", "/?c=0123456789abcdef0123456789abcdef"):
        response = page.goto(f"{app_url}{path}")
        assert response is not None
        assert response.status == 401, (path, response.status)
        expect(page.locator("body")).to_contain_text(HEADER)
        expect(page.get_by_test_id("stApp")).to_have_count(0)
    blank = new_browser_context(extra_http_headers={HEADER: "  "}).new_page()
    response = blank.goto(app_url)
    assert response is not None
    assert response.status == 401


@pytest.mark.parametrize(
    "names",
    [("mallory", "alice"), ("alice", "alice")],
    ids=["two-names", "same-name-twice"],
)
def test_a_request_naming_its_user_twice_is_refused(app_url: str, names: tuple[str, str]) -> None:
    """A proxy that appends instead of replacing would pass the browser's own header along:
    with two values, the guard and the page could each believe a different one."""
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(app_url).netloc, timeout=10)
    connection.putrequest("GET", "/")
    for name in names:
        connection.putheader(HEADER, name)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.status == 400, body
    assert "more than once" in body
