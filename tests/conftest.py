"""Shared fixtures: a fake OpenAI-compatible server and services wired to a temporary database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from chatcore.config import Settings, load_settings
from chatcore.wiring import Services, build_services
from storage import ChatRepository, Database, upgrade_to_head
from tests.support.fake_openai import FakeOpenAI
from tests.support.postgres_server import PostgresServer


@pytest.fixture(autouse=True)
def whole_page_after_a_reply_under_apptest(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest builds its element tree from the messages of one `run()` alone, so a run of
    the conversation's fragment alone (which a browser merges into the page it holds) would
    leave it a part of the page mixed with the new turn's. Under AppTest the end of a reply
    runs the whole page instead, which shows what the browser ends up showing; the browser
    tests (the app in its own process) run the fragment alone
    (tests/browser/test_new_turn_browser.py)."""
    import streamlit as st

    import ui.composer

    def whole_page(_key: str) -> None:
        st.rerun(scope="app")

    monkeypatch.setattr(ui.composer, "rerun_fragment", whole_page)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_api(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake server, reset so each test sees only its own requests."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def settings(fake_api: FakeOpenAI, tmp_path: Path) -> Settings:
    base = load_settings(env={}, secrets={})
    return replace(
        base,
        api_key="sk-test-secret-key",
        secret_key="test-server-secret",
        base_url=fake_api.base_url,
        database_url=f"sqlite:///{tmp_path / 'anychat.db'}",
        request_timeout=5.0,
        max_retries=0,
        generation_workers=4,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, prefetch_models=False)
    yield built
    built.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The test cluster's URL, with an empty public schema for each test."""
    engine = create_engine(postgres_server.url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_server.url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Storage-level tests run on both the default and the team database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'nested' / 'folder' / 'test.db'}"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database: each test using it runs on SQLite and on PostgreSQL."""
    db = Database(database_url)
    upgrade_to_head(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def repo(database: Database) -> ChatRepository:
    return ChatRepository(database)
