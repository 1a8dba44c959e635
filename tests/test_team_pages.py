"""The Admin, Usage and Account pages through AppTest.

AppTest sends no cookies, so the signed-in account is supplied by replacing ui.auth's resolver;
sign-in itself is tested in the browser (tests/browser/test_accounts_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.account_page
import ui.auth
from chatcore.config import load_settings
from chatcore.team.accounts import hash_password
from chatcore.wiring import close_shared_services, shared_services
from tests.support.fake_openai import Behavior, FakeOpenAI
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def app_env(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-team-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    services = shared_services(load_settings())
    admin = services.infra.users.create_user("boss", role="admin")
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: admin)
    yield
    st.cache_resource.clear()
    close_shared_services()  # the sign-in routes' registry holds them too


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def test_the_admin_creates_a_teammate_and_sets_a_quota() -> None:
    at = open_page("admin")
    at.text_input(key="new_username").input("lin.wei")
    at.text_input(key="new_password").input("a long enough password")
    next(b for b in at.button if b.label == "Create").click().run()
    assert any(plain("Created lin.wei") in s.value for s in at.success)
    services = shared_services(load_settings())
    lin = services.infra.users.find_user("lin.wei")
    assert lin is not None and lin.role == "member"
    at.selectbox(key="admin_selected_user").set_value(lin.id).run()
    at.number_input(key=f"quota_tokens_{lin.id}").set_value(5000)
    at.radio(key=f"quota_period_{lin.id}").set_value("day")
    next(b for b in at.button if b.label == "Save quota").click().run()
    assert any(plain("Quota for lin.wei saved") in s.value for s in at.success)
    lin = services.infra.users.get_user(lin.id)
    assert (lin.quota_tokens, lin.quota_period) == (5000, "day")
    next(b for b in at.button if b.label.startswith("Disable")).click().run()
    assert services.infra.users.get_user(lin.id).disabled


def test_names_from_elsewhere_are_shown_not_rendered() -> None:
    """A name a proxy or an identity provider chose is data: Markdown in it stays text."""
    services = shared_services(load_settings())
    name = "*x*[y](https://example.test)"
    odd = services.infra.users.create_user(name, auth_source="proxy")
    at = open_page("admin")
    at.selectbox(key="admin_selected_user").set_value(odd.id).run()
    assert at.subheader[0].value == plain(name)
    next(b for b in at.button if b.label == "Make administrator").click().run()
    assert [s.value for s in at.success] == [f"{plain(name)} is now an administrator."]


def test_usage_shows_tokens_and_offers_a_csv(fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text="hi", usage={"prompt_tokens": 7, "completion_tokens": 5}))
    chat = AppTest.from_file(APP, default_timeout=20).run()
    chat.chat_input[0].set_value("count me").run()
    services = shared_services(load_settings())
    assert services.infra.worker.wait_idle(10)
    at = open_page("usage")
    assert any(metric.value == "12" for metric in at.metric)
    table = at.dataframe[0].value
    assert list(table["Total tokens"]) == [12]
    assert list(table["Model"]) == ["gpt-4o"]


def test_a_personal_key_is_saved_encrypted_and_never_shown_again() -> None:
    at = open_page("account")
    at.text_input(key="personal_key").input("sk-my-own-key-42")
    next(b for b in at.button if b.label == "Save key").click().run()
    assert any("Personal key saved" in s.value for s in at.success)
    assert all("sk-my-own-key-42" not in (w.value or "") for w in at.text_input)
    services = shared_services(load_settings())
    user = services.infra.users.find_user("boss")
    assert services.keys.get(user.id) == "sk-my-own-key-42"
    assert "sk-my-own-key-42" not in (services.infra.keys.personal_key(user.id) or "")
    again = open_page("account")
    assert any(b.label == "Remove my key" for b in again.button)


def test_the_admin_clears_a_teammates_sign_in_throttling() -> None:
    services = shared_services(load_settings())
    boss = services.infra.users.find_user("boss")
    lin = services.accounts.create_user(boss, "lin", "a long enough password")
    for _ in range(5):
        services.accounts.sign_in("lin", "a wrong password", address="198.51.100.7")
    refused = services.accounts.sign_in("lin", "a long enough password", address="198.51.100.7")
    assert str(refused.error).startswith("Too many attempts from this address")
    at = open_page("admin")
    at.selectbox(key="admin_selected_user").set_value(lin.id).run()
    next(b for b in at.button if b.label == "Clear failed sign-in attempts").click().run()
    assert [s.value for s in at.success] == ["Sign-in attempts for lin cleared."]
    assert services.accounts.sign_in("lin", "a long enough password", address="198.51.100.7").ok


def test_proving_the_current_password_is_throttled_per_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Account page counts a wrong current password like a wrong sign-in from the
    teammate's address: past the limit that address is refused, the owner elsewhere is not."""
    monkeypatch.setenv("ANYCHAT_SIGNIN_LIMIT", "2")
    # What the guard would have read from the connection (AppTest has no guard in front).
    monkeypatch.setattr(ui.account_page, "client_address", lambda: "198.51.100.20")
    services = shared_services(load_settings())
    boss = services.infra.users.find_user("boss")
    services.infra.users.set_password_hash(boss.id, hash_password("the right password"))
    at = open_page("account")
    for current in ("wrong password 1", "wrong password 2", "the right password"):
        at.text_input(key="pw_current").input(current)
        at.text_input(key="pw_new").input("a brand new passphrase")
        at.text_input(key="pw_repeat").input("a brand new passphrase")
        next(b for b in at.button if b.label == "Change password").click().run()
    assert [e.value for e in at.error] == [
        "Too many attempts from this address; try again in 15 minutes."
    ]
    assert services.accounts.sign_in("boss", "the right password", address="203.0.113.9").ok
