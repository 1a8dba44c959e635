"""Folders, the archive, temporary chats and bulk actions on the chat page, through AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from chatcore.chat.params import GenerationParams
from chatcore.config import load_settings
from chatcore.wiring import Services, build_services, close_shared_services
from storage.models import Conversation
from tests.support.fake_openai import FakeOpenAI
from tests.support.pages import open_conversation_menu, run_app


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path) -> Path:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-library-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    database = tmp_path / "library.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    return database


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    yield
    st.cache_resource.clear()
    close_shared_services()


@pytest.fixture
def services(app_env: Path) -> Iterator[Services]:
    """The same database the pages use, read and seeded from the test."""
    built = build_services(load_settings(), prefetch_models=False)
    yield built
    built.close()


def _button(at: AppTest, label: str) -> object:
    return next(button for button in at.button if button.label == label)


def _titles(at: AppTest, prefix: str) -> list[str]:
    return [button.label for button in at.button if button.label.startswith(prefix)]


def test_a_folder_is_created_filled_from_the_menu_and_opened(
    app_env: Path, services: Services, fake_api: FakeOpenAI
) -> None:
    at = run_app()
    at.text_input(key="new_folder_name").set_value("客户项目")
    next(b for b in at.button if b.label == "Create folder").click().run()
    assert not at.exception
    assert any("客户项目" in e.label for e in at.expander)
    at.chat_input[0].set_value("chat about the client").run()
    conversation_id = at.query_params["c"]
    folder = services.library.folders(services.local_user.id)[0]
    open_conversation_menu(at, conversation_id)
    at.selectbox(key=f"move-{conversation_id}").set_value(folder.id).run()
    assert not at.exception
    me = services.local_user.id
    filed = services.chat.list_conversations(me, folder_id=folder.id).items
    assert [c.id for c in filed] == [conversation_id]
    assert services.chat.list_conversations(me).items == []  # out of the dates
    assert _titles(at, "chat about") == []  # the folder is closed: its chats are not read


def test_new_chat_here_files_the_chat_and_loads_the_folders_preset(
    app_env: Path, services: Services, fake_api: FakeOpenAI
) -> None:
    me = services.local_user.id
    preset = services.presets.save(
        me, "Cold", GenerationParams(model="gpt-4o", temperature=0.15), shared=False
    )
    folder = services.library.create_folder(me, "Reports", preset.id)
    at = run_app()
    assert not [b for b in at.button if b.key == f"folder-new-{folder.id}"]  # closed
    at.session_state[f"folder-{folder.id}"] = True  # AppTest opens an expander by its key
    at.run()
    next(b for b in at.button if b.key == f"folder-new-{folder.id}").click().run()
    assert any("Reports" in caption.value for caption in at.caption)
    at.chat_input[0].set_value("quarterly numbers").run()
    assert not at.exception
    sent = services.chat.list_conversations(me, folder_id=folder.id).items
    assert [c.title for c in sent] == ["quarterly numbers"]
    assert services.infra.worker.wait_idle(10)
    assert fake_api.requests[-1].body["temperature"] == 0.15


def test_archive_hides_the_chat_and_the_archive_view_restores_it(
    app_env: Path, services: Services, fake_api: FakeOpenAI
) -> None:
    at = run_app()
    at.chat_input[0].set_value("old business").run()
    conversation_id = at.query_params["c"]
    open_conversation_menu(at, conversation_id)
    _button(at, "Archive").click().run()  # the conversation menu's Archive
    assert "c" not in at.query_params
    assert _titles(at, "old business") == []
    _button(at, "Archive").click().run()  # the sidebar's Archive view
    assert _titles(at, "old business") == ["old business"]
    next(b for b in at.button if b.key == f"restore-{conversation_id}").click().run()
    _button(at, "‹ Back to chats").click().run()
    assert _titles(at, "old business") == ["old business"]


def test_a_temporary_chat_is_unlisted_and_gone_once_left(
    app_env: Path, services: Services, fake_api: FakeOpenAI
) -> None:
    at = run_app()
    at.toggle(key="temporary_chat").set_value(True).run()
    assert any("Temporary chat" in info.value for info in at.info)
    at.chat_input[0].set_value("between us").run()
    conversation_id = at.query_params["c"]
    assert _titles(at, "between us") == []
    assert services.infra.worker.wait_idle(10)
    me = services.local_user.id
    assert services.infra.chats.get_conversation(me, conversation_id) is not None
    _button(at, "New chat").click().run()
    assert services.infra.chats.get_conversation(me, conversation_id) is None


def test_bulk_delete_by_date_asks_with_the_count_first(app_env: Path, services: Services) -> None:
    me = services.local_user.id
    old = [services.infra.chats.create_conversation(me, f"old {i}", "gpt-4o").id for i in range(3)]
    services.infra.chats.create_conversation(me, "recent", "gpt-4o")
    with services.infra.database.session() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id.in_(old))
            .values(updated_at=datetime.now(UTC) - timedelta(days=60))
        )
    at = run_app()
    _button(at, "Archive").click().run()
    at.date_input(key="bulk_before").set_value(datetime.now(UTC).date() - timedelta(days=30)).run()
    _button(at, "Delete them").click().run()
    assert not at.exception
    assert any("3 conversations" in m.value for m in at.markdown)
    assert len(services.chat.list_conversations(me).items) == 4  # nothing until confirmed
    _button(at, "Delete").click().run()
    assert [c.title for c in services.chat.list_conversations(me).items] == ["recent"]
    assert any("Deleted 3 conversations." in s.value for s in at.success)


def test_the_admin_sees_what_retention_removes_before_setting_it(
    app_env: Path, services: Services
) -> None:
    me = services.local_user.id
    stale = [
        services.infra.chats.create_conversation(me, f"stale {i}", "gpt-4o").id for i in range(2)
    ]
    services.infra.chats.create_conversation(me, "fresh", "gpt-4o")
    with services.infra.database.session() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id.in_(stale))
            .values(updated_at=datetime.now(UTC) - timedelta(days=100))
        )
    at = run_app()
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    assert any("Off:" in caption.value for caption in at.caption)
    at.number_input(key="retention_days").set_value(90).run()
    assert any("deletes 2 conversations at once" in c.value for c in at.caption)
    assert len(services.chat.list_conversations(me).items) == 3  # a preview deletes nothing
    _button(at, "Set retention").click().run()
    assert any("2 conversations were deleted" in s.value for s in at.success)
    assert [c.title for c in services.chat.list_conversations(me).items] == ["fresh"]
    assert services.library.retention_days() == 90
    _button(at, "Turn retention off").click().run()
    assert services.library.retention_days() is None
