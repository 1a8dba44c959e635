"""Compare in Chromium: two models answer one question side by side, both streaming at once;
"Continue with this" on the second survives a reload and the thread goes on from it."""

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
    unique,
    wait_for_app_run,
)
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OTHER = "claude-3-5-sonnet"
CURSOR = "▌"


def columns(page: Page) -> Locator:
    return assistant_messages(page).last.get_by_test_id("stColumn")


def choose_to_compare(page: Page, model: str) -> None:
    # A fresh server may still be listing its models; the page offers them from its next run.
    loading = sidebar(page).get_by_text("Loading the model list…")
    for _ in range(10):
        if loading.count() == 0:
            break
        page.wait_for_timeout(1000)
        page.reload()
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    picker = sidebar(page).get_by_test_id("stMultiSelect").filter(has_text="Compare with")
    picker.click()
    page.get_by_role("option", name=model, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app_run(page)
    expect(picker).to_contain_text(model)


def test_two_models_stream_side_by_side_and_the_second_continues(
    page: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    open_app(page, app_url)
    choose_to_compare(page, OTHER)
    tag = unique("compare")
    send(page, f"{tag} [[sign:1]] [[chunk_delay:0.08]] [[words:30]]")

    # Both columns grow at the same time, each headed by its model.
    expect(columns(page)).to_have_count(2, timeout=REPLY_TIMEOUT)
    first, second = columns(page).nth(0), columns(page).nth(1)
    expect(first).to_contain_text("gpt-4o", timeout=REPLY_TIMEOUT)
    expect(second).to_contain_text(OTHER)
    expect(first).to_contain_text(CURSOR, timeout=REPLY_TIMEOUT)
    expect(second).to_contain_text(CURSOR)
    requests = fresh_fake.chat_requests()
    assert sorted(r.body["model"] for r in requests) == sorted(["gpt-4o", OTHER])
    assert {k: v for k, v in requests[0].body.items() if k != "model"} == {
        k: v for k, v in requests[1].body.items() if k != "model"
    }

    # Both finish with their facts; the first model's is selected.
    for column, model in ((first, "gpt-4o"), (second, OTHER)):
        expect(column).to_contain_text(f"[{model}] w1 w2", timeout=REPLY_TIMEOUT)
        expect(column).to_contain_text("w30")
        expect(column).to_contain_text(re.compile(r"first token [\d.]+ s"))
    expect(main_area(page).get_by_text(CURSOR)).to_have_count(0)
    expect(first).to_contain_text("selected")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-compare.png"), full_page=True)

    second.get_by_role("button", name="Continue with this").click()
    wait_for_app_run(page)
    expect(second.get_by_role("button", name="Selected")).to_be_visible()

    page.reload()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(columns(page).nth(1).get_by_role("button", name="Selected")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    expect(columns(page).nth(0).get_by_role("button", name="Continue with this")).to_be_visible()

    # A reload is a new tab session: the next message goes to the picker's model alone.
    before = len(fresh_fake.chat_requests())
    send(page, f"{tag} next")
    fresh_fake.wait_for_requests(before + 1)
    history = fresh_fake.chat_requests()[before].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"].startswith(f"[{OTHER}] w1 w2"), history
    expect(assistant_messages(page).last).to_contain_text("Echo:", timeout=REPLY_TIMEOUT)
