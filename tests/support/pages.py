"""Running the app's pages in Streamlit's AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.config import load_settings
from chatcore.wiring import Services, close_shared_services, shared_services
from tests.support.fake_openai import FakeOpenAI
from ui.chat_page import MENU_PREFIX

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(query: dict[str, str] | None = None) -> AppTest:
    """app.py run once, with `query` as the URL's query parameters."""
    at = AppTest.from_file(APP, default_timeout=20)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def open_conversation_menu(at: AppTest, conversation_id: str) -> AppTest:
    """Open the menu beside a conversation's title, as its popover's click does: its content
    is drawn only while it is open."""
    at.session_state[f"{MENU_PREFIX}{conversation_id}"] = True
    return at.run()


def services_as_admin(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[Services]:
    """The services the pages find (configured through the environment, as in production, on
    a new database), with every page run signed in as an administrator, "boss"; for a fixture
    to `yield from`."""
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-admin-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pages.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    services = shared_services(load_settings())
    admin = services.infra.users.create_user("boss", role="admin")
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: admin)
    yield services
    st.cache_resource.clear()
    close_shared_services()
