"""Search in Chromium: Chinese typed in a chat is found from the sidebar by a two-character word
and by a longer phrase, shown with the match in bold, and opens its conversation at the message.

The sidebar's search box is ui/search.py's `draw_search`, found by its placeholder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    main_area,
    open_app,
    send,
    sidebar,
    wait_for_app_run,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})")
QUESTION = "请解释一下大语言模型的训练数据从哪里来"
ANSWER = "训练数据来自公开的网页、书籍和授权内容，模型在这些数据上学习语言的规律。"
# The chat page takes `m` out of the URL once it has landed on the message, so the URLs the
# app sets are recorded as they are set.
RECORD_URLS = """
window.__urls = [];
for (const name of ["pushState", "replaceState"]) {
  const original = history[name].bind(history);
  history[name] = (state, title, url) => {
    if (url) window.__urls.push(new URL(String(url), location.href).search);
    return original(state, title, url);
  };
}
"""


def _search(page: Page, query: str) -> Locator:
    """Type `query` in the sidebar's search box; returns the results."""
    box = sidebar(page).get_by_placeholder("Search messages and titles")
    box.fill(query)
    box.press("Enter")
    wait_for_app_run(page)
    return sidebar(page).locator(".st-key-search_results")


def test_find_chinese_words_and_open_the_conversation_at_the_match(
    page: Page, app_url: str, fake_api: FakeOpenAI
) -> None:
    page.add_init_script(RECORD_URLS)
    open_app(page, app_url)
    fake_api.enqueue(Behavior(text=ANSWER))
    send(page, QUESTION)
    expect(assistant_messages(page).last).to_contain_text("授权内容", timeout=REPLY_TIMEOUT)
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None
    conversation_id = match.group(1)
    wait_for_app_run(page)
    sidebar(page).get_by_role("button", name="New chat").click()  # away from it
    wait_for_app_run(page)

    # Two characters: in both messages, so the newest (the answer) is the hit shown.
    results = _search(page, "模型")
    hit = results.locator(f".st-key-search-hit-{conversation_id}")
    expect(hit).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(results.locator("strong", has_text="模型").first).to_be_visible()
    expect(results.get_by_text("授权内容")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search.png"))

    # A longer phrase, only in the question, which the title was made from: bold in both.
    results = _search(page, "数据从哪里来")
    expect(results.locator("strong", has_text="数据从哪里来")).to_have_count(
        2, timeout=LOAD_TIMEOUT
    )

    results.locator(f".st-key-search-hit-{conversation_id}").get_by_role("button").click()
    expect(page).to_have_url(re.compile(rf"[?&]c={conversation_id}"), timeout=LOAD_TIMEOUT)
    page.wait_for_function(
        "id => window.__urls.some(url => url.includes('c=' + id) && /[?&]m=\\d+/.test(url))",
        arg=conversation_id,
        timeout=LOAD_TIMEOUT,
    )
    expect(
        main_area(page).get_by_role("heading").filter(has_text="请解释一下大语言模型")
    ).to_be_visible(timeout=LOAD_TIMEOUT)

    _search(page, "没有这个词语")
    expect(sidebar(page).get_by_text("No results.")).to_be_visible(timeout=LOAD_TIMEOUT)
