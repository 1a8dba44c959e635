"""AnyChat in a real browser: streaming, reloads, switching chats mid-reply, Stop, Retry.

Every test opens its own page (a new Streamlit session) against one app process per module.
Conversations are told apart by a unique tag at the start of the first message, which makes
the conversation's title (the first line of the first message) unique too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    chat_messages,
    open_app,
    send,
    unique,
    user_messages,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CURSOR = "▌"
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")
BARE_URL = re.compile(r"^[^?]*$")
# A reply still being written: starts with w1 w2 w3 and ends with the typing cursor.
PARTIAL = re.compile(r"^w1 w2 w3\b.*" + CURSOR + "$", re.DOTALL)


# -- helpers --------------------------------------------------------------------------------


def words(count: int) -> str:
    """The fake server's reply to [[words:N]]."""
    return " ".join(f"w{i}" for i in range(1, count + 1))


def reply_body(page: Page) -> Locator:
    """The text of the newest reply (its first Markdown block; captions are separate)."""
    return assistant_messages(page).last.get_by_test_id("stMarkdownContainer").first


def observe_partial(page: Page, timeout: float = REPLY_TIMEOUT / 1000) -> str:
    """Sample the newest reply until it is caught mid-stream; return that partial text.

    One read per sample, so the text returned is the text that matched (an `expect` followed
    by a second read could see a later, even finished, text).
    """
    body = reply_body(page)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if body.count():
            text = body.inner_text()
            if PARTIAL.match(text):
                return text
            seen.append(text)
        page.wait_for_timeout(50)
    raise AssertionError(f"never saw a partial reply; saw {seen[-3:]!r}")


def reply_caption(page: Page) -> Locator:
    """The facts under the newest reply (model, tokens, timings)."""
    captions = assistant_messages(page).last.get_by_test_id("stCaptionContainer")
    return captions.filter(has_text=" tokens")


def button(page: Page, name: str) -> Locator:
    """A button of the chat area by its exact label.

    Exact, because a conversation title in the sidebar may contain the same word; in the main
    area, because Streamlit's own status widget has a "Stop" button while a script runs.
    """
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def sidebar_entry(page: Page, title_part: str) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_role("button", name=title_part)


def conversation_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None, page.url
    return match.group(1)


def wait_until_finished(page: Page, text: str) -> None:
    """The reply shows exactly `text` (no cursor), its usage caption, and no Stop button."""
    expect(reply_body(page)).to_have_text(text, timeout=REPLY_TIMEOUT)
    expect(reply_caption(page)).to_contain_text(re.compile(r"completion = \d+ tokens"))
    expect(button(page, "Stop")).to_have_count(0)


def assert_no_app_errors(page: Page, log_text: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentWarning")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    assert "Traceback" not in log_text, log_text


# -- scenarios ------------------------------------------------------------------------------


def test_reply_streams_in_and_is_summed_up(
    page: Page, app_url: str, server_log: Callable[[], str], app_api_key: str
) -> None:
    tag = unique("stream")
    open_app(page, app_url)

    send(page, f"{tag} [[chunk_delay:0.1]] [[words:40]]")

    # The Stop button and a partial reply with the typing cursor...
    expect(button(page, "Stop")).to_be_visible(timeout=REPLY_TIMEOUT)
    partial = observe_partial(page)
    # ...then the full text, with the usage caption in place of the Stop button.
    wait_until_finished(page, words(40))
    shown = partial.removesuffix(CURSOR).split()
    assert 3 <= len(shown) < 40, partial
    assert shown == words(len(shown)).split(), partial
    expect(reply_caption(page)).to_contain_text("40 completion =")
    expect(page.get_by_text(re.compile(r"tokens in this conversation"))).to_be_visible()
    conversation_id(page)

    # Must not happen: a doubled message, an error, the cursor left behind.
    expect(user_messages(page).filter(has_text=tag)).to_have_count(1)
    expect(chat_messages(page)).to_have_count(2)
    expect(page.get_by_text(CURSOR)).to_have_count(0)
    expect(button(page, "Retry")).to_have_count(0)
    assert_no_app_errors(page, server_log())
    # The key is used by the server only: never in the page, the status page or the log.
    assert app_api_key not in page.content()
    page.goto(f"{app_url}/status")
    expect(page.get_by_text("configured")).to_be_visible(timeout=LOAD_TIMEOUT)
    assert app_api_key not in page.content()
    assert app_api_key not in server_log()
    page.go_back()
    expect(user_messages(page).filter(has_text=tag)).to_have_count(1, timeout=LOAD_TIMEOUT)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-chat.png"), full_page=True)


def test_conversation_is_listed_after_reload_and_opens(
    page: Page, app_url: str, server_log: Callable[[], str]
) -> None:
    tag = unique("reload")
    answer = unique("answer")
    open_app(page, app_url)
    send(page, f"{tag} [[reply:{answer}]]")
    wait_until_finished(page, answer)
    opened = conversation_id(page)

    open_app(page, app_url)  # the bare URL: a new session on the start page
    expect(page).to_have_url(BARE_URL)
    expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()
    expect(chat_messages(page)).to_have_count(0)

    entry = sidebar_entry(page, tag)
    expect(entry).to_have_count(1)
    entry.click()

    expect(page).to_have_url(CONVERSATION_URL)
    assert conversation_id(page) == opened
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text(tag)
    expect(assistant_messages(page)).to_have_count(1)
    expect(reply_body(page)).to_have_text(answer)
    # Must not happen: the start page lingering, the "not found" warning, duplicates.
    expect(page.get_by_role("heading", name="What can I help with?")).to_have_count(0)
    expect(page.get_by_text("Conversation not found")).to_have_count(0)
    expect(chat_messages(page)).to_have_count(2)
    assert_no_app_errors(page, server_log())


def test_switching_away_mid_stream_keeps_the_whole_reply(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    tag = unique("switch")
    full = words(60)
    open_app(page, app_url)
    send(page, f"{tag} [[chunk_delay:0.1]] [[words:60]]")
    expect(reply_body(page)).to_have_text(PARTIAL, timeout=REPLY_TIMEOUT)
    opened = conversation_id(page)

    page.get_by_test_id("stSidebar").get_by_role("button", name="New chat", exact=True).click()
    expect(page).to_have_url(BARE_URL)
    expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()
    expect(chat_messages(page)).to_have_count(0)
    page.wait_for_timeout(1_000)  # away for a while; the reply must keep being generated

    sidebar_entry(page, tag).click()
    expect(page).to_have_url(re.compile(rf"\?c={opened}$"))
    wait_until_finished(page, full)
    expect(reply_caption(page)).to_contain_text("60 completion =")

    # Saved: a fresh session on the conversation's URL shows it complete.
    open_app(page, f"{app_url}/?c={opened}")
    wait_until_finished(page, full)
    expect(button(page, "Stop")).to_have_count(0)

    # Must not happen: the reply stopped or cut, generated twice, or shown twice.
    expect(page.get_by_text("Stopped")).to_have_count(0)
    expect(button(page, "Retry")).to_have_count(0)
    expect(user_messages(page)).to_have_count(1)
    expect(assistant_messages(page)).to_have_count(1)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, requests
    assert not requests[0].client_disconnected
    assert_no_app_errors(page, server_log())


def test_stop_keeps_the_partial_reply(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    tag = unique("halt")
    open_app(page, app_url)
    send(page, f"{tag} [[chunk_delay:0.15]] [[words:60]]")
    expect(reply_body(page)).to_have_text(PARTIAL, timeout=REPLY_TIMEOUT)
    opened = conversation_id(page)

    button(page, "Stop").click()

    reply = assistant_messages(page).last
    expect(reply.get_by_text("Stopped")).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(button(page, "Stop")).to_have_count(0)
    body = reply_body(page)
    expect(body).not_to_contain_text(CURSOR)
    partial = body.inner_text()
    shown = partial.split()
    assert 3 <= len(shown) < 60, partial
    assert shown == words(len(shown)).split(), partial

    # The upstream stream was closed, not left running to the end.
    deadline = time.monotonic() + 5
    while not fresh_fake.chat_requests()[0].client_disconnected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert fresh_fake.chat_requests()[0].client_disconnected

    # The partial reply survives a reload, still marked as stopped.
    open_app(page, f"{app_url}/?c={opened}")
    expect(reply_body(page)).to_have_text(partial)
    expect(assistant_messages(page).last.get_by_text("Stopped")).to_be_visible()
    # Must not happen: the text growing after Stop, an error, a Stop button, duplicates.
    expect(button(page, "Stop")).to_have_count(0)
    expect(button(page, "Retry")).to_have_count(0)
    expect(user_messages(page).filter(has_text=tag)).to_have_count(1)
    expect(chat_messages(page)).to_have_count(2)
    assert len(fresh_fake.chat_requests()) == 1
    assert_no_app_errors(page, server_log())


def test_server_error_shows_and_retry_succeeds(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    tag = unique("again")
    fresh_fake.enqueue(Behavior(status=500))  # only the first answer fails
    open_app(page, app_url)
    send(page, tag)

    error = assistant_messages(page).last.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("HTTP 500", timeout=REPLY_TIMEOUT)
    retry = button(page, "Retry")
    expect(retry).to_be_visible()
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text(tag)
    opened = conversation_id(page)

    retry.click()

    wait_until_finished(page, f"Echo: {tag}")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_text("HTTP 500")).to_have_count(0)
    expect(button(page, "Retry")).to_have_count(0)
    expect(user_messages(page)).to_have_count(1)
    expect(assistant_messages(page)).to_have_count(1)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 2, requests
    # The retry asks the same question again, without the failed attempt in the history.
    assert requests[1].body["messages"] == [{"role": "user", "content": tag}]

    open_app(page, f"{app_url}/?c={opened}")
    expect(reply_body(page)).to_have_text(f"Echo: {tag}")
    expect(page.get_by_text("HTTP 500")).to_have_count(0)
    expect(user_messages(page)).to_have_count(1)
    expect(chat_messages(page)).to_have_count(2)
    assert_no_app_errors(page, server_log())
