"""Every page in Chinese shows no English sentence of ours, and in English no Chinese one.

Each page is drawn through AppTest in the states a teammate meets (a conversation with a reply,
one whose reply failed, a quota, an open admin record), and every string of every element it drew
is held against the catalogue (tests/support/i18n.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.config import load_settings
from chatcore.wiring import Services, close_shared_services, shared_services
from storage import UserRecord
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.i18n import chinese_in, english_of_ours, shown_strings

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ("chat", "usage", "account", "admin", "status")


@pytest.fixture
def team(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[tuple[Services, UserRecord]]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-i18n-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'i18n.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    services = shared_services(load_settings())
    admin = services.infra.users.create_user("boss", role="admin")
    services.infra.users.create_user("lin.wei")

    def reread(_services: Services) -> UserRecord:
        # Read afresh at every run, as the guard does: a language chosen since shows at once.
        return services.infra.users.get_user(admin.id)

    monkeypatch.setattr(ui.auth, "_resolve", reread)
    yield services, admin
    st.cache_resource.clear()
    close_shared_services()


def _open(page: str, conversation: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    if conversation:
        at.query_params["c"] = conversation
    at.run()
    if page != "chat":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _with_history(services: Services, fake_api: FakeOpenAI) -> str:
    """A conversation with one answered question and one failed by a 429, and used tokens."""
    fake_api.enqueue(Behavior(text="你好！", usage={"prompt_tokens": 7, "completion_tokens": 5}))
    at = _open("chat")
    at.chat_input[0].set_value("第一个问题").run()
    assert services.infra.worker.wait_idle(10)
    conversation = (
        at.query_params["c"][0]
        if isinstance(at.query_params["c"], list)
        else (at.query_params["c"])
    )
    fake_api.enqueue(Behavior(status=429, headers={"retry-after": "7"}))
    at = _open("chat", conversation)
    at.chat_input[0].set_value("再来一次").run()
    assert services.infra.worker.wait_idle(10)
    return str(conversation)


def _set_language(services: Services, user: UserRecord, language: str | None) -> None:
    services.accounts.set_language(user, language)


@pytest.mark.parametrize("page", PAGES)
def test_a_chinese_reader_meets_no_english_sentence_of_ours(
    team: tuple[Services, UserRecord], fake_api: FakeOpenAI, page: str
) -> None:
    services, admin = team
    _set_language(services, admin, "zh_CN")
    conversation = _with_history(services, fake_api)
    if page == "admin":
        at = _open("admin")
        lin = services.infra.users.find_user("lin.wei")
        assert lin is not None
        at.selectbox(key="admin_selected_user").set_value(lin.id).run()
    else:
        at = _open(page, conversation if page == "chat" else None)
    shown = shown_strings(at)
    assert chinese_in(shown), "the page is not in Chinese at all"
    assert english_of_ours(shown) == []


@pytest.mark.parametrize("page", PAGES)
def test_an_english_reader_meets_no_chinese_sentence_of_ours(
    team: tuple[Services, UserRecord], fake_api: FakeOpenAI, page: str
) -> None:
    services, admin = team
    _set_language(services, admin, "en")
    conversation = _with_history(services, fake_api)
    at = _open(page, conversation if page == "chat" else None)
    shown = shown_strings(at)
    # What people and models wrote is Chinese here on purpose, and a language is offered by
    # its own name (简体中文); nothing else may be.
    written = ("第一个问题", "再来一次", "你好！", "简体中文")
    assert [text for text in chinese_in(shown) if not any(w in text for w in written)] == []


def test_the_upstreams_429_is_explained_in_chinese(
    team: tuple[Services, UserRecord], fake_api: FakeOpenAI
) -> None:
    services, admin = team
    _set_language(services, admin, "zh_CN")
    conversation = _with_history(services, fake_api)
    at = _open("chat", conversation)
    errors = [element.value for element in at.error]
    assert any("429" in text and "7" in text for text in errors), errors
    assert all(chinese_in([text]) for text in errors), errors
    # The same stored reply, read by an English reader, is explained in English.
    _set_language(services, admin, "en")
    at = _open("chat", conversation)
    assert any("rate limiting" in element.value for element in at.error)
