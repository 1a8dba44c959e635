"""A message sent into an open conversation reruns only the new turn's fragment: the thread
above stays on the page as it was, the reply streams below it, its Stop works, a refused
message is handed back, and once the reply has ended the conversation's area is drawn again
(the totals, the new messages' actions), and the sidebar with it only when its list changed."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.browser.browser_helpers import (
    REPLY_TIMEOUT,
    assistant_messages,
    chat_messages,
    history_entries,
    main_area,
    open_app,
    send,
    unique,
    user_messages,
    wait_for_app_run,
)
from tests.browser.test_chat_browser import (
    CURSOR,
    PARTIAL,
    assert_no_app_errors,
    button,
    reply_body,
    sidebar_entry,
    wait_until_finished,
    words,
)
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.browser

LIMIT = 300


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    return {"ANYCHAT_MAX_MESSAGE_CHARS": str(LIMIT)}


def totals(page: Page) -> str:
    caption = main_area(page).get_by_text(re.compile(r"tokens? in this conversation"))
    return caption.inner_text()


def send_and_see_it_counted(page: Page, text: str, count: int, totals_before: str) -> None:
    """Send `text` for a reply of `count` words; once it has ended, it carries its actions and
    the conversation's total has changed."""
    send(page, f"{text} [[words:{count}]]")
    wait_until_finished(page, words(count))
    expect(button(page, "Regenerate")).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(
        main_area(page).get_by_text(re.compile(r"tokens? in this conversation"))
    ).not_to_have_text(totals_before)


def test_the_thread_stays_while_the_new_turn_streams_and_the_page_follows_it(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    tag = unique("turn")
    open_app(page, app_url)
    send(page, f"{tag} first [[words:5]]")
    wait_until_finished(page, words(5))
    wait_for_app_run(page)
    before = totals(page)

    # Into the open conversation: the first turn stays drawn while the second streams.
    send(page, f"{tag} second [[chunk_delay:0.15]] [[words:60]]")
    expect(reply_body(page)).to_have_text(PARTIAL, timeout=REPLY_TIMEOUT)
    expect(chat_messages(page)).to_have_count(4)
    expect(user_messages(page).first).to_contain_text(f"{tag} first")
    button(page, "Stop").click()
    reply = assistant_messages(page).last
    expect(reply.get_by_text("Stopped")).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(button(page, "Stop")).to_have_count(0)
    expect(reply_body(page)).not_to_contain_text(CURSOR)
    assert fresh_fake.chat_requests()[-1].body["messages"][1]["content"] == words(5)

    # A whole reply: then the area is drawn again, with the new total and the reply's actions.
    send_and_see_it_counted(page, f"{tag} third", 7, before)
    expect(chat_messages(page)).to_have_count(6)
    expect(user_messages(page).filter(has_text=tag)).to_have_count(3)
    assert_no_app_errors(page, server_log())


# In every page run's messages (the search box's label), in none of the area's alone.
SIDEBAR_MARK = b"Search messages and titles"


def test_the_sidebar_is_drawn_again_after_a_reply_only_when_its_list_changes(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    received: list[bytes] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: received.append(_as_bytes(frame)))

    page.on("websocket", watch)
    older, newer = unique("older"), unique("newer")
    open_app(page, app_url)
    for tag in (older, newer):
        page.get_by_test_id("stSidebar").get_by_role("button", name="New chat").click()
        send(page, f"{tag} [[words:3]]")
        wait_until_finished(page, words(3))
        wait_for_app_run(page)
    sidebar_entry(page, older).click()
    expect(history_entries(page).first).to_contain_text(newer)
    wait_for_app_run(page)

    # A reply in the conversation second in the list moves it to the top: the page runs.
    received.clear()
    send(page, f"{older} again [[words:4]]")
    wait_until_finished(page, words(4))
    expect(history_entries(page).first).to_contain_text(older)
    wait_for_app_run(page)
    assert any(SIDEBAR_MARK in frame for frame in received)

    # Now at the top, where the next reply leaves it: only the conversation's area runs,
    # and it shows the reply's final form, its actions and the new totals.
    before = totals(page)
    received.clear()
    send_and_see_it_counted(page, f"{older} once more", 6, before)
    wait_for_app_run(page)
    assert received, "no messages from the server after the send"
    assert not any(SIDEBAR_MARK in frame for frame in received)
    expect(history_entries(page).first).to_contain_text(older)
    expect(chat_messages(page)).to_have_count(6)
    assert len(fresh_fake.chat_requests()) == 4
    assert_no_app_errors(page, server_log())


def _as_bytes(frame: str | bytes) -> bytes:
    return frame if isinstance(frame, bytes) else frame.encode()


def test_a_refused_message_in_an_open_conversation_is_handed_back(
    page: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    tag = unique("long")
    open_app(page, app_url)
    send(page, f"{tag} short [[words:3]]")
    wait_until_finished(page, words(3))
    wait_for_app_run(page)
    too_long = f"{tag} " + "x" * LIMIT
    send(page, too_long)
    expect(page.get_by_text(re.compile(r"The message has [\d,]+ characters"))).to_be_visible(
        timeout=REPLY_TIMEOUT
    )
    expect(page.get_by_text("Your message (not sent)")).to_be_visible()
    expect(chat_messages(page)).to_have_count(2)
    assert len(fresh_fake.chat_requests()) == 1
