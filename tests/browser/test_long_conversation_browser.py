"""A long conversation in a real browser: a link to one of its old messages (`?c=…&m=…`, as a
search result gives) opens the conversation on that message's branch, scrolled to it and
marked, and takes the message out of the URL so a reload does not land again.

The conversation (200 messages, a branch near the start) is written through the repository
into the app's own SQLite database, as the app would have written it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from storage import (
    AccountRole,
    ChatRepository,
    Database,
    Role,
    SignInSource,
    UserRepository,
    upgrade_to_head,
)
from storage.users import LOCAL_USERNAME
from tests.browser.browser_helpers import LOAD_TIMEOUT, chat_messages, open_app
from tests.support.app_process import AppProcess

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MESSAGES = 200
BRANCH_AT = 11  # the reply that has an earlier version, on another branch
MARKED = ".st-key-landed-message"


@dataclass(frozen=True)
class Seeded:
    conversation_id: str
    ids: list[int]  # the visible thread's messages, by position
    earlier_reply: int  # the first version of reply BRANCH_AT, on a branch of its own


def text_of(tag: str, number: int) -> str:
    return f"{tag} message {number:03d}: " + "words to make the message a few lines long " * 4


@pytest.fixture(scope="module")
def repository(app_server: AppProcess) -> Iterator[ChatRepository]:
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    upgrade_to_head(database.engine)  # the app migrates on its first page; this may be first
    yield ChatRepository(database)
    database.dispose()


def seed(repository: ChatRepository) -> tuple[str, Seeded]:
    """A 200-message conversation of the single user (ANYCHAT_AUTH=none), with one edit-free
    branch: reply BRANCH_AT was regenerated, its first version kept beside it."""
    owner = UserRepository(repository.db).ensure_user(
        LOCAL_USERNAME,
        display_name="Local user",
        auth_source=SignInSource.NONE,
        role=AccountRole.ADMIN,
    )
    tag = f"long-{uuid.uuid4().hex[:8]}"
    chat = repository.create_conversation(owner.id, f"{tag} conversation", "gpt-4o")
    ids: list[int] = []
    parent: int | None = None
    earlier = 0
    for number in range(MESSAGES):
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        if number == BRANCH_AT:
            earlier = repository.add_message(
                chat.id, role, f"{tag} first version of message {number:03d}", parent_id=parent
            ).id
        message = repository.add_message(chat.id, role, text_of(tag, number), parent_id=parent)
        ids.append(message.id)
        parent = message.id
    return tag, Seeded(chat.id, ids, earlier)


def message_with(page: Page, text: str) -> Locator:
    return chat_messages(page).filter(has_text=text)


def test_a_link_to_an_old_message_scrolls_to_it_and_marks_it(
    page: Page, app_url: str, repository: ChatRepository
) -> None:
    tag, seeded = seed(repository)
    refused: list[str] = []  # the page's Content-Security-Policy must let the scroller run
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    target = 6  # far above the 20 newest messages the page draws by default
    open_app(page, f"{app_url}/?c={seeded.conversation_id}&m={seeded.ids[target]}")

    landed = message_with(page, f"{tag} message {target:03d}:")
    expect(landed).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(landed).to_be_in_viewport(timeout=LOAD_TIMEOUT)
    marked = page.locator(MARKED)
    expect(marked).to_have_count(1)
    expect(marked.get_by_test_id("stChatMessage")).to_contain_text(f"message {target:03d}:")
    # The message above it is drawn too; the newest is not (it is 190 messages further on).
    expect(message_with(page, f"{tag} message {target - 1:03d}:")).to_have_count(1)
    expect(message_with(page, f"{tag} message {MESSAGES - 1:03d}:")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"\?c={seeded.conversation_id}$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "landing.png"))
    assert refused == []

    # Back to the newest messages: the last one is drawn, the landed one no longer.
    page.get_by_role("button", name=re.compile(r"^Show the latest")).click()
    expect(message_with(page, f"{tag} message {MESSAGES - 1:03d}:")).to_have_count(1)
    expect(landed).to_have_count(0)

    # A reload shows the conversation as it is now, not the landing again.
    page.reload()
    expect(message_with(page, f"{tag} message {MESSAGES - 1:03d}:")).to_have_count(
        1, timeout=LOAD_TIMEOUT
    )
    expect(page.locator(MARKED)).to_have_count(0)


def test_a_link_to_a_message_on_another_branch_switches_to_that_branch(
    page: Page, app_url: str, repository: ChatRepository
) -> None:
    tag, seeded = seed(repository)
    open_app(page, f"{app_url}/?c={seeded.conversation_id}&m={seeded.earlier_reply}")

    landed = message_with(page, f"{tag} first version of message {BRANCH_AT:03d}")
    expect(landed).to_be_in_viewport(timeout=LOAD_TIMEOUT)
    expect(landed).to_contain_text("1 / 2")  # the branch navigator, on the first version
    conversation = repository.get_conversation(repository_owner(repository), seeded.conversation_id)
    assert conversation is not None and conversation.active_leaf_id == seeded.earlier_reply


def test_a_link_to_someone_elses_message_lands_nowhere(
    page: Page, app_url: str, repository: ChatRepository
) -> None:
    tag, seeded = seed(repository)
    stranger = UserRepository(repository.db).ensure_user(f"stranger-{uuid.uuid4().hex[:8]}")
    theirs = repository.create_conversation(stranger.id, "theirs", "gpt-4o")
    secret = repository.add_message(theirs.id, Role.USER, f"{tag} not yours", parent_id=None)
    open_app(page, f"{app_url}/?c={seeded.conversation_id}&m={secret.id}")

    expect(message_with(page, f"{tag} message {MESSAGES - 1:03d}:")).to_have_count(
        1, timeout=LOAD_TIMEOUT
    )
    expect(page.get_by_text(f"{tag} not yours")).to_have_count(0)
    expect(page.locator(MARKED)).to_have_count(0)


def repository_owner(repository: ChatRepository) -> int:
    user = UserRepository(repository.db).find_user(LOCAL_USERNAME)
    assert user is not None
    return user.id
