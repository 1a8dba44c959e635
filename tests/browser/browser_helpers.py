"""Locators and actions the browser tests share."""

from __future__ import annotations

import uuid

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

LOAD_TIMEOUT = 20_000  # ms; the first page of a fresh server imports a lot
REPLY_TIMEOUT = 15_000  # ms
RUN_START_MS = 150  # a widget change's run shows in the page only once the server started it


def unique(prefix: str) -> str:
    """A name no other test (or earlier run against the same database) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for_app_run(page: Page) -> None:
    """Wait until the script run a widget change started has finished.

    The browser reports the run only once the server has started it, hence the short pause
    first (what Streamlit's own end-to-end tests do). Sending right after a sidebar change,
    while that change's run was still going, was seen to send the request without it.
    """
    page.wait_for_timeout(RUN_START_MS)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=LOAD_TIMEOUT
    )


def choose_option(page: Page, box: Locator, option: str, attempts: int = 4) -> None:
    """Open the select box `box` and pick `option`. A click that lands while a run is
    replacing the box opens nothing (seen on a loaded machine, after the page's run had
    reported its end), so the box is clicked again until the option shows."""
    wanted = page.get_by_role("option", name=option, exact=True)
    for _attempt in range(attempts):
        box.click()
        try:
            wanted.wait_for(state="visible", timeout=3_000)
        except PlaywrightTimeoutError:
            continue
        wanted.click()
        return
    raise AssertionError(f"the select box never offered {option!r}")


def open_app(page: Page, url: str) -> None:
    """Load `url` and wait until the chat box takes input."""
    page.goto(url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)


def send(page: Page, text: str) -> None:
    """Type `text` in the chat box and press Enter."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def open_menu(page: Page, title: str) -> Locator:
    """Open the popover beside the conversation's title (rename, file, export, share, delete);
    returns its body."""
    header = (
        main_area(page)
        .get_by_test_id("stHorizontalBlock")
        .filter(has=page.get_by_role("heading", name=title))
    )
    # Streamlit draws a second, hidden copy of a popover button that has help text.
    header.get_by_test_id("stPopoverButton").filter(visible=True).click()
    body = page.get_by_test_id("stPopoverBody")
    # Its content is drawn by the page run that opening it starts (closed, it holds nothing).
    delete = body.get_by_role("button", name="Delete conversation")
    expect(delete).to_be_visible(timeout=LOAD_TIMEOUT)
    return body


def chat_messages(page: Page) -> Locator:
    return page.get_by_test_id("stChatMessage")


def user_messages(page: Page) -> Locator:
    return chat_messages(page).filter(has=page.get_by_test_id("stChatMessageAvatarUser"))


def assistant_messages(page: Page) -> Locator:
    return chat_messages(page).filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))


def main_area(page: Page) -> Locator:
    return page.get_by_test_id("stMainBlockContainer")


def sidebar(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar")


def history_entries(page: Page) -> Locator:
    """The sidebar's conversation buttons (Streamlit keys `open-<id>`)."""
    return sidebar(page).locator("[class*='st-key-open-']").get_by_role("button")
