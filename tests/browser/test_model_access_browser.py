"""Model access in Chromium: a member whose role may use only deepseek-chat is offered only it,
and a model typed into the picker anyway does not stick; an administrator, whose role is not
limited, is offered every model.

The setting is written into the app's database before the module's first page: each process
keeps what it read for 30 s, so a value written later could come too late.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from chatcore.team.accounts import hash_password
from chatcore.team.model_access import MODEL_ACCESS_KEY
from storage import Database, UserRepository, upgrade_to_head
from storage.team_settings import TeamSettingsRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    main_area,
    send,
    sidebar,
    wait_for_app_run,
)
from tests.support.app_process import AppProcess
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.browser

PASSWORD = "teammate-pass-8m3v"
ALLOWED = "deepseek-chat"


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    return {"ANYCHAT_AUTH": "local"}


@pytest.fixture(scope="module")
def users(app_server: AppProcess) -> Iterator[UserRepository]:
    """Members may use deepseek-chat only, set before any page of this app runs."""
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    upgrade_to_head(database.engine)
    TeamSettingsRepository(database).set_value(MODEL_ACCESS_KEY, {"roles": {"member": [ALLOWED]}})
    yield UserRepository(database)
    database.dispose()


def signed_in(page: Page, url: str, users: UserRepository, role: str) -> None:
    name = f"{role}-{uuid.uuid4().hex[:10]}"
    users.create_user(name, password_hash=hash_password(PASSWORD), role=role)
    page.goto(url)
    expect(page.get_by_label("Username")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.get_by_label("Username").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    wait_for_app_run(page)


def offered_models(page: Page) -> list[str]:
    sidebar(page).get_by_test_id("stSelectbox").filter(has_text="Model").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    offered = [text.strip() for text in options.all_inner_texts()]
    page.keyboard.press("Escape")
    return offered


def test_a_member_is_offered_only_the_allowed_models_and_cannot_send_another(
    page: Page, app_url: str, users: UserRepository, fresh_fake: FakeOpenAI
) -> None:
    signed_in(page, app_url, users, "member")
    assert offered_models(page) == [ALLOWED]

    # Typed into the picker anyway: the page puts the picker back on an allowed model, and
    # that is the model the question goes to (the server refuses any other: see
    # tests/test_model_access.py, which calls the service with no page at all).
    picker = sidebar(page).get_by_test_id("stSelectbox").filter(has_text="Model")
    picker.click()
    page.keyboard.type("gpt-4o")
    page.keyboard.press("Enter")
    wait_for_app_run(page)
    moved = "Your team does not allow you to use “gpt-4o”: the picker moved to “deepseek-chat”."
    expect(main_area(page).get_by_text(moved)).to_be_visible(timeout=LOAD_TIMEOUT)
    send(page, "Which model answers?")
    expect(assistant_messages(page)).to_have_count(1, timeout=REPLY_TIMEOUT)
    assert [request.body["model"] for request in fresh_fake.chat_requests()] == [ALLOWED]


def test_an_administrator_is_offered_every_model(
    new_browser_context: Callable[..., BrowserContext], app_url: str, users: UserRepository
) -> None:
    page = new_browser_context().new_page()
    signed_in(page, app_url, users, "admin")
    offered = offered_models(page)
    assert ALLOWED in offered and "gpt-4o" in offered
