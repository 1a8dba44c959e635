"""Files in the chat input and a long chat, in a real browser.

An image and a PDF attached to a question reach the model as content parts (the image as a
data URL, the PDF as its text) and stay in the thread, across a reload, as a thumbnail and a
download chip. A conversation longer than the model's context is answered all the same, its
oldest messages left out, and the page marks where what was sent begins.

Both tests run with the administrator's context window for gpt-4o set to 1,200 tokens,
written into the app's database before the module's first page: the app keeps the windows it
read for 30 s, so a value written later could come too late.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import FilePayload, Locator, Page, expect

from storage import Database, upgrade_to_head
from storage.team_settings import TeamSettingsRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    main_area,
    open_app,
    send,
    unique,
    user_messages,
    wait_for_app_run,
)
from tests.support.app_process import AppProcess
from tests.support.documents import minimal_pdf
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONTEXT_WINDOW = 1200  # tokens: a few long questions outgrow it
MARKER = "The messages above were not sent with the last question"


@pytest.fixture(scope="module", autouse=True)
def small_context_window(app_server: AppProcess) -> None:
    """gpt-4o's window, as an administrator would set it, before any page of this app."""
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    try:
        upgrade_to_head(database.engine)  # the app migrates on its first page; this is first
        TeamSettingsRepository(database).set_value(
            "context_windows", {"models": {"gpt-4o": CONTEXT_WINDOW}}
        )
    finally:
        database.dispose()


@pytest.fixture
def page_without_errors(page: Page) -> Iterator[Page]:
    yield page
    expect(page.get_by_test_id("stException")).to_have_count(0)


def png(width: int, height: int, colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def last_user_content(body: dict[str, Any]) -> Any:
    users = [m for m in body["messages"] if m.get("role") == "user"]
    return users[-1]["content"]


def request_text(body: dict[str, Any]) -> str:
    """Every text of the request's messages, joined: what the model was sent to read."""
    texts: list[str] = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content)
    return "\n".join(texts)


def wait_for_reply(page: Page, count: int, text: str) -> None:
    """The `count`th reply shows `text` and the app is idle again."""
    expect(assistant_messages(page)).to_have_count(count, timeout=REPLY_TIMEOUT)
    expect(assistant_messages(page).nth(count - 1)).to_contain_text(text, timeout=REPLY_TIMEOUT)
    expect(main_area(page).get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    wait_for_app_run(page)


def top_of(element: Locator) -> float:
    box = element.bounding_box()
    assert box is not None, element
    return box["y"]


def shows_attachments(message: Locator, pdf_name: str) -> None:
    expect(message.get_by_test_id("stImage")).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(message.get_by_test_id("stImage").locator("img")).to_be_visible()
    chip = message.get_by_test_id("stDownloadButton")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text(pdf_name)


def test_image_and_pdf_reach_the_model_and_stay_in_the_thread(
    page_without_errors: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    page = page_without_errors
    image_name = f"{unique('chart')}.png"
    pdf_name = f"{unique('report')}.pdf"
    question = f"{unique('files')} What do these show?"
    fresh_fake.enqueue(Behavior(text="A blue chart and a report."))
    open_app(page, app_url)

    chat_input = page.get_by_test_id("stChatInput")
    files: list[FilePayload] = [
        {"name": image_name, "mimeType": "image/png", "buffer": png(360, 240, "steelblue")},
        {
            "name": pdf_name,
            "mimeType": "application/pdf",
            "buffer": minimal_pdf("Quarterly numbers"),
        },
    ]
    chat_input.locator("input[type=file]").set_input_files(files)
    # A long name shows shortened in the input; each file's Remove button has it whole.
    for name in (image_name, pdf_name):
        expect(chat_input.get_by_role("button", name=f"Remove {name}")).to_be_visible(
            timeout=LOAD_TIMEOUT
        )
    send(page, question)
    wait_for_reply(page, 1, "A blue chart and a report.")

    requests = fresh_fake.chat_requests()
    assert len(requests) == 1, [r.body for r in requests]
    content = last_user_content(requests[0].body)
    assert isinstance(content, list), content
    texts = [part["text"] for part in content if part.get("type") == "text"]
    images = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert question in texts, texts
    assert any("Quarterly numbers" in text and pdf_name in text for text in texts), texts
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,"), [
        url[:40] for url in images
    ]

    expect(user_messages(page)).to_have_count(1)
    shows_attachments(user_messages(page).first, pdf_name)
    expect(user_messages(page).first).to_contain_text(question)

    page.reload()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
    wait_for_app_run(page)
    expect(user_messages(page)).to_have_count(1, timeout=LOAD_TIMEOUT)
    shows_attachments(user_messages(page).first, pdf_name)
    expect(assistant_messages(page).first).to_contain_text("A blue chart and a report.")

    ARTIFACTS.mkdir(exist_ok=True)
    # Tall enough for the question, its files and the reply at once.
    page.set_viewport_size({"width": 1280, "height": 1000})
    wait_for_app_run(page)
    page.screenshot(path=str(ARTIFACTS / "attachments.png"))


def test_a_long_chat_is_answered_and_shows_where_its_context_begins(
    page_without_errors: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    page = page_without_errors
    fresh_fake.max_prompt_chars = 5600  # a request the app did not fit is refused
    tag = unique("long")
    open_app(page, app_url)

    questions = 8
    for number in range(questions):
        answer = f"{tag} answer {number}"
        fresh_fake.enqueue(Behavior(text=answer))
        send(page, f"question {number}: " + "lorem ipsum " * 60)
        wait_for_reply(page, number + 1, answer)

    requests = fresh_fake.chat_requests()
    assert len(requests) == questions, [request_text(r.body)[:80] for r in requests]
    replies = assistant_messages(page)
    for number in range(questions):
        expect(replies.nth(number)).to_contain_text(f"{tag} answer {number}")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    last = request_text(requests[-1].body)
    assert "question 0:" not in last
    assert f"question {questions - 1}:" in last

    marker = main_area(page).get_by_test_id("stCaptionContainer").filter(has_text=MARKER)
    expect(marker).to_have_count(1)
    expect(marker).to_be_visible()
    # Questions were left out above the marker, and what follows it is a question: the
    # first message sent with the last one.
    marker_top = top_of(marker)
    assert any(top_of(question) < marker_top for question in user_messages(page).all())
    below = [
        *((top_of(m), "user") for m in user_messages(page).all()),
        *((top_of(m), "assistant") for m in replies.all()),
    ]
    first_below = min((entry for entry in below if entry[0] > marker_top), default=None)
    assert first_below is not None and first_below[1] == "user", (marker_top, sorted(below))


def test_a_recording_is_transcribed_into_the_input_for_review(
    page_without_errors: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    page = page_without_errors
    fresh_fake.transcript = "明天的会议几点开始？"
    page.context.grant_permissions(["microphone"])
    open_app(page, app_url)
    page.get_by_test_id("stChatInputMicButton").click()
    page.wait_for_timeout(1500)  # Chromium's fake microphone plays a tone meanwhile
    page.get_by_test_id("stChatInputApproveButton").click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_value(
        "明天的会议几点开始？", timeout=LOAD_TIMEOUT
    )
    recordings = [
        request
        for request in fresh_fake.requests
        if request.path.endswith("/audio/transcriptions") and request.body["bytes"] > 1000
    ]
    assert len(recordings) == 1 and recordings[0].body["model_field"]
    assert fresh_fake.chat_requests() == []  # nothing is sent before the person reviews it
