"""Folders, the archive and temporary chats in Chromium: what a person clicks, and what the
sidebar then shows."""

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
    open_menu,
    send,
    sidebar,
    unique,
    wait_for_app_run,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})")


def _chat(page: Page, fake: FakeOpenAI, text: str) -> None:
    fake.enqueue(Behavior(text="noted"))
    send(page, text)
    expect(assistant_messages(page).last).to_contain_text("noted", timeout=REPLY_TIMEOUT)
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    wait_for_app_run(page)


def _create_folder(page: Page, name: str) -> None:
    sidebar(page).locator(".st-key-new_folder_menu").get_by_test_id("stPopoverButton").filter(
        visible=True
    ).click()
    body = page.get_by_test_id("stPopoverBody")
    body.get_by_label("Folder name").fill(name)
    body.get_by_role("button", name="Create folder").click()
    expect(sidebar(page).get_by_test_id("stExpander").filter(has_text=name)).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    page.keyboard.press("Escape")


def _entry(page: Page, title: str) -> Locator:
    return sidebar(page).get_by_role("button", name=title, exact=True)


def test_move_a_conversation_into_a_folder_and_find_it_there(
    page: Page, app_url: str, fake_api: FakeOpenAI
) -> None:
    folder = unique("项目")
    title = unique("filed")
    open_app(page, app_url)
    _create_folder(page, folder)
    _chat(page, fake_api, title)
    expect(_entry(page, title)).to_be_visible()  # among the dates for now
    menu = open_menu(page, title)
    menu.get_by_test_id("stSelectbox").filter(has_text="Folder").click()
    page.get_by_role("option", name=folder).click()
    wait_for_app_run(page)
    page.keyboard.press("Escape")
    page.reload()
    open_app(page, page.url)
    expect(_entry(page, title)).to_have_count(0)  # out of the dates, in a closed folder
    sidebar(page).get_by_test_id("stExpander").filter(has_text=folder).click()
    expect(_entry(page, title)).to_be_visible(timeout=LOAD_TIMEOUT)
    wait_for_app_run(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "folders.png"))


def test_a_rename_and_a_pin_from_the_menu_show_in_the_sidebar_at_once(
    page: Page, app_url: str, fake_api: FakeOpenAI
) -> None:
    """The menu is in the conversation's area, whose clicks run it alone; the sidebar's list
    changed, so the whole page runs and shows it, with no reload."""
    title, renamed = unique("named"), unique("renamed")
    open_app(page, app_url)
    _chat(page, fake_api, title)
    menu = open_menu(page, title)
    menu.get_by_label("Title").fill(renamed)
    menu.get_by_label("Title").press("Enter")
    expect(_entry(page, renamed)).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(_entry(page, title)).to_have_count(0)
    wait_for_app_run(page)
    page.keyboard.press("Escape")

    open_menu(page, renamed).get_by_role("button", name="Pin to top").click()
    expect(sidebar(page).get_by_text("Pinned", exact=True)).to_be_visible(timeout=LOAD_TIMEOUT)
    pinned = sidebar(page).locator("[class*='st-key-open-']").get_by_role("button").first
    expect(pinned).to_contain_text(renamed)


def test_archive_then_restore_from_the_archive_view(
    page: Page, app_url: str, fake_api: FakeOpenAI
) -> None:
    title = unique("archived")
    open_app(page, app_url)
    _chat(page, fake_api, title)
    menu = open_menu(page, title)
    menu.get_by_role("button", name="Archive").click()
    wait_for_app_run(page)
    expect(_entry(page, title)).to_have_count(0)
    sidebar(page).get_by_role("button", name="Archive").click()
    expect(_entry(page, title)).to_be_visible(timeout=LOAD_TIMEOUT)
    sidebar(page).locator("[class*='st-key-restore-']").get_by_role("button").first.click()
    wait_for_app_run(page)
    sidebar(page).get_by_role("button", name="‹ Back to chats").click()
    expect(_entry(page, title)).to_be_visible(timeout=LOAD_TIMEOUT)


def test_a_temporary_chat_is_never_listed_and_gone_once_left(
    page: Page, app_url: str, fake_api: FakeOpenAI
) -> None:
    title = unique("temporary")
    open_app(page, app_url)
    sidebar(page).get_by_text("Temporary", exact=True).click()
    expect(main_area(page).get_by_text("Temporary chat:", exact=False)).to_be_visible()
    _chat(page, fake_api, title)
    left_url = page.url
    expect(_entry(page, title)).to_have_count(0)
    sidebar(page).get_by_role("button", name="New chat").click()
    wait_for_app_run(page)
    page.goto(left_url)
    expect(main_area(page).get_by_text("Conversation not found")).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
