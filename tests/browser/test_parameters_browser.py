"""AnyChat's request parameters and branches in a real browser.

n choices side by side and picking one, a built-in tool's round trip, JSON mode (its rendering
and its warning), regenerating a reply and editing a question, each surviving a reload.

Every test opens its own page (a new Streamlit session, so a new chat with default controls)
against one app process per module (see conftest.py).
"""

from __future__ import annotations

import json
import re
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
    user_messages,
    wait_for_app_run,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.browser

CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")


# -- helpers --------------------------------------------------------------------------------


def reload(page: Page) -> None:
    """Reload the conversation's URL in a fresh session and wait until it is drawn."""
    url = page.url
    assert CONVERSATION_URL.search(url), url
    page.reload()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(page).to_have_url(url)
    expect(chat_messages(page).first).to_be_visible(timeout=LOAD_TIMEOUT)


def main_area(page: Page) -> Locator:
    return page.get_by_test_id("stMainBlockContainer")


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def button(scope: Page | Locator, name: str) -> Locator:
    """A button of the chat area by its exact label (see test_chat_browser.button)."""
    if isinstance(scope, Page):
        scope = main_area(scope)
    return scope.get_by_role("button", name=name, exact=True)


def keyed(scope: Page | Locator, key_prefix: str) -> Locator:
    """Elements whose Streamlit key starts with `key_prefix` (Streamlit adds `st-key-<key>`)."""
    return scope.locator(f"[class*='st-key-{key_prefix}']")


def keyed_button(scope: Page | Locator, key_prefix: str) -> Locator:
    return keyed(scope, key_prefix).get_by_role("button")


def navigator(scope: Locator) -> Locator:
    """The "k / n" caption between a message's ‹ › buttons."""
    return scope.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^\d+ / \d+$"))


def reply_caption(message: Locator) -> Locator:
    """The usage facts under a finished reply."""
    return message.get_by_test_id("stCaptionContainer").filter(has_text=" tokens")


def wait_until_finished(page: Page, text: str) -> Locator:
    """The newest reply shows `text` (no cursor) and its usage caption; returns that message."""
    reply = assistant_messages(page).last
    expect(reply.get_by_test_id("stMarkdownContainer").first).to_have_text(
        text, timeout=REPLY_TIMEOUT
    )
    expect(reply_caption(reply)).to_contain_text(re.compile(r"completion = \d+ tokens"))
    expect(button(page, "Stop")).to_have_count(0)
    return reply


def conversation_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None, page.url
    return match.group(1)


def open_advanced(page: Page) -> Locator:
    """Expand the sidebar's "Advanced" section; returns it."""
    wait_for_app_run(page)  # the page's first run may still be drawing the sidebar
    advanced = (
        sidebar(page)
        .get_by_test_id("stExpander")
        .filter(has=page.get_by_text("Advanced", exact=True))
    )
    advanced.get_by_text("Advanced", exact=True).click()
    expect(advanced.get_by_text("JSON mode", exact=True)).to_be_visible()
    return advanced


def switch_on(page: Page, scope: Locator, label: str) -> None:
    """Turn on the toggle labelled exactly `label` (clicking its label text)."""
    switch = scope.get_by_role("switch", name=label, exact=True)
    expect(switch).not_to_be_checked()
    scope.get_by_text(label, exact=True).click()
    expect(switch).to_be_checked()
    wait_for_app_run(page)


def choice_columns(reply: Locator) -> Locator:
    return reply.get_by_test_id("stColumn")


def code_text(scope: Locator) -> Locator:
    """The text of the code blocks in `scope` (ui/code_block.py's element; Playwright's
    selectors reach into its shadow root)."""
    return scope.locator("pre code")


def exactly(text: str) -> re.Pattern[str]:
    """Match `text` verbatim; a plain string would have its whitespace normalised."""
    return re.compile(rf"^{re.escape(text)}\s*$")


def assert_no_app_errors(page: Page, log_text: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert "Traceback" not in log_text, log_text


# -- scenarios ------------------------------------------------------------------------------


def test_three_choices_pick_one_and_continue(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """n=3 shows three choices; the one picked survives a reload and continues the thread."""
    question = "Tell me a story"
    texts = [f"Echo: {question}", f"[1] Echo: {question}", f"[2] Echo: {question}"]
    open_app(page, app_url)
    advanced = open_advanced(page)
    switch_on(page, advanced, "Choices (n)")
    choices = advanced.get_by_role("spinbutton", name="Choices (n)")
    expect(choices).to_have_value("2")
    choices.fill("3")
    choices.press("Enter")
    expect(choices).to_have_value("3")
    wait_for_app_run(page)

    send(page, question)
    conversation_id(page)
    reply = assistant_messages(page).last
    columns = choice_columns(reply)
    expect(columns).to_have_count(3, timeout=REPLY_TIMEOUT)
    expect(button(reply, "Regenerate all")).to_be_visible(timeout=REPLY_TIMEOUT)

    def assert_choices(selected: int) -> None:
        expect(columns).to_have_count(3)
        for index, text in enumerate(texts):
            column = columns.nth(index)
            heading = f"Choice {index + 1}" + (" · selected" if index == selected else "")
            expect(column.get_by_test_id("stMarkdownContainer").nth(0)).to_have_text(heading)
            expect(column.get_by_test_id("stMarkdownContainer").nth(1)).to_have_text(text)
            if index == selected:
                expect(button(column, "Selected")).to_be_disabled()
                expect(button(column, "Continue with this")).to_have_count(0)
            else:
                expect(button(column, "Continue with this")).to_be_enabled()
        expect(button(reply, "Continue with this")).to_have_count(2)

    assert_choices(selected=0)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, requests
    assert requests[0].body["n"] == 3

    button(columns.nth(1), "Continue with this").click()
    assert_choices(selected=1)
    assert len(fresh_fake.chat_requests()) == 1  # picking asks nothing new

    reload(page)
    expect(columns.first).to_be_visible(timeout=LOAD_TIMEOUT)
    assert_choices(selected=1)

    follow_up = "And then?"
    send(page, follow_up)
    fresh_fake.wait_for_requests(2)
    newest = assistant_messages(page).last
    expect(newest).to_contain_text(f"[2] Echo: {follow_up}", timeout=REPLY_TIMEOUT)
    expect(button(newest, "Regenerate all")).to_be_visible(timeout=REPLY_TIMEOUT)
    follow_up_body = fresh_fake.chat_requests()[1].body
    assert follow_up_body["n"] == 3  # the conversation's settings, reloaded with it
    assert follow_up_body["messages"] == [
        {"role": "user", "content": question},
        {"role": "assistant", "content": texts[1]},
        {"role": "user", "content": follow_up},
    ]
    # The earlier turn is now an ordinary message: the picked choice, with ‹ 2 / 3 ›.
    expect(assistant_messages(page)).to_have_count(2)
    earlier = assistant_messages(page).first
    expect(earlier.get_by_test_id("stMarkdownContainer").first).to_have_text(texts[1])
    expect(navigator(earlier)).to_have_text("2 / 3")
    expect(choice_columns(earlier)).to_have_count(0)
    expect(earlier.get_by_text(texts[0], exact=True)).to_have_count(0)
    assert_no_app_errors(page, server_log())


def test_calculator_round_trip(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """The model calls the built-in calculator; one click runs it and the model answers."""
    open_app(page, app_url)
    advanced = open_advanced(page)
    calculator = advanced.get_by_role("button", name="Calculator", exact=True)
    expect(calculator).to_have_attribute("aria-pressed", "false")
    calculator.click()
    expect(calculator).to_have_attribute("aria-pressed", "true")
    wait_for_app_run(page)

    send(page, '[[tool:calculator {"expression": "6*7"}]] what is 6*7?')
    conversation_id(page)
    call = assistant_messages(page).first
    expect(call).to_contain_text("Calls calculator", timeout=REPLY_TIMEOUT)
    expect(code_text(call)).to_have_text(exactly('{\n  "expression": "6*7"\n}'))
    run = button(page, "Run calculator")
    expect(run).to_be_visible(timeout=REPLY_TIMEOUT)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, requests
    offered = [tool["function"]["name"] for tool in requests[0].body["tools"]]
    assert offered == ["calculator"], requests[0].body["tools"]

    run.click()

    # The tool message: a caption naming the call ("`calculator` returned (call `call_0`)")
    # and the result as sent back to the model.
    result = chat_messages(page).filter(has_text="call_0")
    expect(result).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(result.get_by_test_id("stCaptionContainer")).to_contain_text("calculator")
    expect(code_text(result)).to_have_text(exactly("42"))
    answer = wait_until_finished(page, "Tool results: 42")
    expect(run).to_have_count(0)
    fresh_fake.wait_for_requests(2)
    messages = fresh_fake.chat_requests()[1].body["messages"]
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_0", "content": "42"}, messages
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "calculator", messages

    def assert_round_trip() -> None:
        expect(chat_messages(page)).to_have_count(4)
        expect(user_messages(page)).to_contain_text("what is 6*7?")
        expect(call).to_contain_text("Calls calculator")
        expect(code_text(call)).to_have_text(exactly('{\n  "expression": "6*7"\n}'))
        expect(code_text(result)).to_have_text(exactly("42"))
        expect(answer.get_by_test_id("stMarkdownContainer").first).to_have_text("Tool results: 42")
        expect(button(page, "Run calculator")).to_have_count(0)

    assert_round_trip()
    reload(page)
    assert_round_trip()
    page.screenshot(path=str(ARTIFACTS / "browser-tool-call.png"), full_page=True)
    assert len(fresh_fake.chat_requests()) == 2
    assert_no_app_errors(page, server_log())


def test_json_mode_reply_is_pretty_printed(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """A valid JSON reply shows formatted in a code block, the raw text one click away."""
    question = "Reply in JSON please"
    open_app(page, app_url)
    switch_on(page, open_advanced(page), "JSON mode")

    send(page, question)
    conversation_id(page)
    reply = assistant_messages(page).last
    expect(code_text(reply)).to_have_text(
        exactly(json.dumps({"echo": question}, indent=2)), timeout=REPLY_TIMEOUT
    )
    expect(reply_caption(reply)).to_contain_text(re.compile(r"completion = \d+ tokens"))
    raw = reply.get_by_test_id("stExpander").filter(has_text="Raw text")
    expect(raw).to_have_count(1)
    raw.get_by_text("Raw text", exact=True).click()
    expect(raw.get_by_test_id("stText")).to_be_visible()
    expect(raw.get_by_test_id("stText")).to_have_text(json.dumps({"echo": question}))
    expect(reply).not_to_contain_text("not valid JSON")
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, requests
    assert requests[0].body["response_format"] == {"type": "json_object"}
    assert_no_app_errors(page, server_log())


def test_json_mode_without_the_word_json_asks_first(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """JSON mode and no "json" anywhere: a warning, nothing sent until "Send anyway"."""
    open_app(page, app_url)
    switch_on(page, open_advanced(page), "JSON mode")

    send(page, "hello there")
    warning = main_area(page).get_by_test_id("stAlertContentWarning")
    expect(warning).to_contain_text("JSON mode is on")
    expect(button(page, "Send anyway")).to_be_visible()
    expect(button(page, "Cancel")).to_be_visible()
    expect(chat_messages(page)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"^[^?]*$"))
    assert fresh_fake.chat_requests() == []

    button(page, "Send anyway").click()

    conversation_id(page)
    reply = assistant_messages(page).last
    expect(code_text(reply)).to_have_text(
        exactly(json.dumps({"echo": "hello there"}, indent=2)), timeout=REPLY_TIMEOUT
    )
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text("hello there")
    expect(warning).to_have_count(0)
    expect(button(page, "Send anyway")).to_have_count(0)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, requests
    assert requests[0].body["response_format"] == {"type": "json_object"}
    assert requests[0].body["messages"] == [{"role": "user", "content": "hello there"}]
    assert_no_app_errors(page, server_log())


def test_regenerate_keeps_both_replies(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """Regenerating adds a second reply; ‹ › goes back to the first, also after a reload."""
    fresh_fake.enqueue(Behavior(text="first take"), Behavior(text="second take"))
    open_app(page, app_url)
    send(page, "Say something")
    reply = wait_until_finished(page, "first take")
    expect(navigator(reply)).to_have_count(0)

    keyed_button(reply, "regen-").click()

    wait_until_finished(page, "second take")
    expect(navigator(reply)).to_have_text("2 / 2")
    expect(keyed_button(reply, "next-")).to_be_disabled()
    requests = fresh_fake.chat_requests()
    assert len(requests) == 2, requests
    assert requests[1].body["messages"] == [{"role": "user", "content": "Say something"}]

    keyed_button(reply, "prev-").click()

    expect(navigator(reply)).to_have_text("1 / 2")
    wait_until_finished(page, "first take")
    expect(keyed_button(reply, "prev-")).to_be_disabled()
    expect(keyed_button(reply, "next-")).to_be_enabled()

    reload(page)
    expect(chat_messages(page)).to_have_count(2)
    wait_until_finished(page, "first take")
    expect(navigator(reply)).to_have_text("1 / 2")
    keyed_button(reply, "next-").click()
    wait_until_finished(page, "second take")
    expect(navigator(reply)).to_have_text("2 / 2")
    assert len(fresh_fake.chat_requests()) == 2
    assert_no_app_errors(page, server_log())


def test_edit_sends_a_new_branch(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, server_log: Callable[[], str]
) -> None:
    """An edited question is a new branch; ‹ › on it shows the original question and reply."""
    open_app(page, app_url)
    send(page, "one")
    wait_until_finished(page, "Echo: one")
    question = user_messages(page).first

    keyed_button(question, "edit-pop-").click()
    editor = page.get_by_role("textbox", name="Edit message")
    expect(editor).to_have_value("one")
    editor.fill("one, edited")
    page.get_by_role("button", name="Send as a new branch", exact=True).click()

    wait_until_finished(page, "Echo: one, edited")
    expect(user_messages(page)).to_have_count(1)
    expect(question.get_by_test_id("stText")).to_have_text("one, edited")
    expect(navigator(question)).to_have_text("2 / 2")
    expect(assistant_messages(page)).to_have_count(1)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 2, requests
    assert requests[1].body["messages"] == [{"role": "user", "content": "one, edited"}]

    keyed_button(question, "prev-").click()

    expect(navigator(question)).to_have_text("1 / 2")
    expect(question.get_by_test_id("stText")).to_have_text("one")
    wait_until_finished(page, "Echo: one")
    expect(chat_messages(page)).to_have_count(2)
    assert len(fresh_fake.chat_requests()) == 2
    assert_no_app_errors(page, server_log())
