"""The pages through Streamlit's AppTest: what a user sees, without a browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from chatcore.config import load_settings
from chatcore.wiring import build_services, close_shared_services
from storage import MessageStatus, ReplyOutcome
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.pages import open_conversation_menu, run_app

SECRET = "sk-page-test-secret"


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path) -> Path:
    monkeypatch.setenv("ANYAPI_API_KEY", SECRET)
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    database = tmp_path / "pages.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")  # sign-in has its own tests
    return database


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    yield
    st.cache_resource.clear()
    close_shared_services()  # the sign-in routes' registry holds them too


def markdown_text(at: AppTest) -> str:
    """Everything shown as text: replies (Markdown) and the user's own messages (plain)."""
    return "\n".join(element.value for element in [*at.markdown, *at.text])


def message_texts(at: AppTest) -> list[str]:
    """Each chat message's text, in page order."""
    return [
        "\n".join(element.value for element in [*message.markdown, *message.text])
        for message in at.chat_message
    ]


def test_without_a_key_the_page_says_what_to_set(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYAPI_API_KEY", "")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = run_app()
    assert not at.exception
    assert "ANYAPI_API_KEY" in at.info[0].value
    assert at.chat_input[0].disabled


def test_a_message_is_answered_saved_and_put_in_the_url(
    app_env: Path, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="Hi **there**, 你好!"))
    at = run_app()
    at.chat_input[0].set_value("Hello 世界").run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert "Hi **there**, 你好!" in markdown_text(at)
    conversation_id = at.query_params["c"]
    assert len(conversation_id) == 32
    assert any("tokens" in caption.value for caption in at.caption)
    # The conversation is listed and reopens from its URL in a new session.
    again = run_app({"c": conversation_id})
    assert "Hello 世界" in markdown_text(again)
    assert "Hi **there**, 你好!" in markdown_text(again)
    assert any(button.label == "Hello 世界" for button in again.button)


def test_an_upstream_error_is_shown_and_retry_recovers(app_env: Path, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(status=500), Behavior(text="recovered"))
    at = run_app()
    at.chat_input[0].set_value("will it fail").run()
    assert not at.exception
    assert "HTTP 500" in at.error[0].value
    assert "will it fail" in markdown_text(at)
    retry = next(button for button in at.button if button.label == "Retry")
    retry.click().run()
    assert not at.error
    assert "recovered" in markdown_text(at)
    assert markdown_text(at).count("will it fail") == 1


def test_unknown_conversation_is_not_found(app_env: Path) -> None:
    at = run_app({"c": "0" * 32})
    assert not at.exception
    assert "not found" in at.warning[0].value


def test_new_chat_clears_the_url(app_env: Path, fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.chat_input[0].set_value("first chat").run()
    assert "c" in at.query_params
    next(b for b in at.button if b.label == "New chat").click().run()
    assert "c" not in at.query_params
    assert at.title[0].value == "What can I help with?"


def test_rename_and_delete_from_the_header(app_env: Path, fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.chat_input[0].set_value("to be renamed").run()
    conversation_id = at.query_params["c"]
    # Closed, the menu holds nothing: its widgets cost no page run.
    assert [box for box in at.text_input if box.key == f"rename-{conversation_id}"] == []
    open_conversation_menu(at, conversation_id)
    at.text_input(key=f"rename-{conversation_id}").set_value("Renamed chat").run()
    assert at.subheader[0].value == "Renamed chat"
    next(b for b in at.button if b.label == "Delete conversation").click().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert "c" not in at.query_params
    settings = load_settings()
    services = build_services(settings, prefetch_models=False)
    try:
        user = services.local_user
        assert services.infra.chats.get_conversation(user.id, conversation_id) is None
    finally:
        services.close()


def test_oversized_message_is_refused_before_sending(
    app_env: Path, fake_api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYCHAT_MAX_MESSAGE_CHARS", "10")
    at = run_app()
    at.chat_input[0].set_value("x" * 11).run()
    assert "limit is 10" in at.warning[0].value
    assert at.code[0].value == "x" * 11  # handed back, not lost
    assert fake_api.chat_requests() == []


def test_status_page_never_shows_the_key(app_env: Path) -> None:
    at = run_app()
    at.switch_page("pages/status.py").run()
    assert not at.exception
    assert at.metric[0].value == "configured"
    rendered = str([element.proto for element in at.main]) + markdown_text(at)
    assert SECRET not in rendered


def test_settings_are_sent_survive_other_pages_and_belong_to_each_conversation(
    app_env: Path, fake_api: FakeOpenAI
) -> None:
    at = run_app()
    at.toggle(key="p_temperature_on").set_value(True).run()
    at.slider(key="p_temperature").set_value(0.25).run()
    at.text_area(key="p_system_prompt").set_value("Be brief.").run()
    # A visit to another page must not reset the controls.
    at.switch_page("pages/status.py").run()
    at.switch_page("pages/chat.py").run()
    assert at.slider(key="p_temperature").value == 0.25
    at.chat_input[0].set_value("tuned").run()
    body = fake_api.chat_requests()[-1].body
    assert body["temperature"] == 0.25
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "top_p" not in body and "max_tokens" not in body
    tuned_id = at.query_params["c"]

    # A new chat with default sampling, then back: the first one reopens with its own settings.
    next(b for b in at.button if b.label == "New chat").click().run()
    at.toggle(key="p_temperature_on").set_value(False).run()
    at.chat_input[0].set_value("plain").run()
    assert "temperature" not in fake_api.chat_requests()[-1].body
    next(b for b in at.button if b.label == "tuned").click().run()
    assert at.query_params["c"] == tuned_id
    assert at.toggle(key="p_temperature_on").value is True
    assert at.slider(key="p_temperature").value == 0.25


def test_history_is_paginated_and_searchable(app_env: Path) -> None:
    services = build_services(load_settings(), prefetch_models=False)
    try:
        user = services.local_user
        for number in range(25):
            services.infra.chats.create_conversation(user.id, f"chat number {number:02}", "gpt-4o")
    finally:
        services.close()
    at = run_app()
    titles = [b.label for b in at.button if b.label.startswith("chat number")]
    assert titles[0] == "chat number 24" and len(titles) == 20
    next(b for b in at.button if b.label == "Older ›").click().run()
    titles = [b.label for b in at.button if b.label.startswith("chat number")]
    assert titles == [f"chat number {n:02}" for n in range(4, -1, -1)]
    # Every word of the query, in any order (tests/test_search.py covers search itself).
    at.text_input(key="library_search").set_value("2 number").run()
    found = [
        b.label.replace("**", "").replace("\u200c", "")
        for b in at.button
        if b.key.startswith("search-hit-")
    ]
    assert found == [f"chat number {n:02}" for n in (24, 23, 22, 21, 20, 12, 2)]  # newest first


def test_a_long_conversation_draws_its_tail_and_the_rest_on_request(app_env: Path) -> None:
    services = build_services(load_settings(), prefetch_models=False)
    try:
        repo = services.infra.chats
        chat = repo.create_conversation(services.local_user.id, "long one", "gpt-4o")
        parent = None
        for number in range(30):
            role = "user" if number % 2 == 0 else "assistant"
            parent = repo.add_message(chat.id, role, f"message {number}", parent_id=parent).id
    finally:
        services.close()
    at = run_app({"c": chat.id})
    assert message_texts(at) == [f"message {number}" for number in range(10, 30)]
    next(b for b in at.button if b.label == "Show 10 earlier messages").click().run()
    assert message_texts(at) == [f"message {number}" for number in range(30)]


def test_a_reply_written_by_another_process_is_followed_through_its_row(app_env: Path) -> None:
    at = run_app()  # this page's process starts (and runs its start-up recovery) first
    services = build_services(load_settings(), prefetch_models=False)
    try:
        repo = services.infra.chats
        chat = repo.create_conversation(services.local_user.id, "elsewhere", "gpt-4o")
        question = repo.add_message(chat.id, "user", "q", parent_id=None)
        reply = repo.add_message(
            chat.id, "assistant", "half", parent_id=question.id, status=MessageStatus.STREAMING
        )

        def finish_elsewhere() -> None:
            time.sleep(1.0)  # the page is polling the row by now
            repo.finish_reply(
                reply.id, ReplyOutcome(content="whole answer", status=MessageStatus.COMPLETE)
            )

        writer = threading.Thread(target=finish_elsewhere)
        writer.start()
        # This page's process has no live reply for the row, so it follows the database.
        at.query_params["c"] = chat.id
        at.run()
        writer.join()
    finally:
        services.close()
    assert not at.exception
    assert "whole answer" in markdown_text(at)
    assert not any(button.label == "Stop" for button in at.button)


def test_older_questions_open_their_actions_on_request(app_env: Path) -> None:
    services = build_services(load_settings(), prefetch_models=False)
    try:
        repo = services.infra.chats
        chat = repo.create_conversation(services.local_user.id, "four", "gpt-4o")
        ids, parent = [], None
        for number in range(4):
            role = "user" if number % 2 == 0 else "assistant"
            parent = repo.add_message(chat.id, role, f"message {number}", parent_id=parent).id
            ids.append(parent)
    finally:
        services.close()
    at = run_app({"c": chat.id})
    keys = {button.key for button in at.button}
    # The newest question and reply carry their full rows; the older question a "more" button.
    assert f"more-{ids[0]}" in keys and f"regen-{ids[3]}" in keys
    assert f"regen-{ids[1]}" not in keys and f"more-{ids[2]}" not in keys
    at.button(key=f"more-{ids[0]}").click().run()
    assert f"more-{ids[0]}" not in {button.key for button in at.button}
