"""Model access: every model by default, or allowlists per role and per person, refused by the
service however the request is made, and offered by the picker only where allowed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.chat.catalog import UNAVAILABLE_NOTE, ModelList
from chatcore.chat.params import GenerationParams
from chatcore.config import load_settings
from chatcore.errors import AccountError, InvalidParameter, ModelNotAllowed
from chatcore.team.model_access import MODEL_ACCESS_KEY, ModelAccess
from chatcore.wiring import Services, close_shared_services, shared_services
from storage import UserRecord
from storage.team_settings import TeamSettingsRepository
from tests.support.fake_openai import FakeOpenAI

APP = str(Path(__file__).resolve().parent.parent / "app.py")
GPT = GenerationParams(model="gpt-4o")
DEEPSEEK = GenerationParams(model="deepseek-chat")


def people(services: Services) -> tuple[UserRecord, UserRecord]:
    boss = services.infra.users.create_user("boss", role="admin")
    lin = services.infra.users.create_user("lin")
    return boss, lin


def test_every_model_is_allowed_by_default(services: Services) -> None:
    boss, lin = people(services)
    assert services.model_access.allowed(lin) is None
    assert services.model_access.allowed(boss) is None
    services.model_access.check(lin, "anything-at-all")
    assert services.model_list_for(lin) == services.model_list()


def test_nobody_restricted_means_no_account_is_read(services: Services) -> None:
    def unexpected(_user_id: int) -> UserRecord | None:
        raise AssertionError("an account was read for a send nobody restricts")

    access = ModelAccess(
        TeamSettingsRepository(services.infra.database), unexpected, require_admin=lambda _: None
    )
    access.check_user_id(1, "gpt-4o")


def test_a_role_allowlist_limits_that_role_only(services: Services) -> None:
    boss, lin = people(services)
    services.model_access.set_role_models(boss, "member", ["deepseek-chat", " gpt-4o-mini ", ""])
    assert services.model_access.allowed(lin) == {"deepseek-chat", "gpt-4o-mini"}
    assert services.model_access.allowed(boss) is None
    with pytest.raises(ModelNotAllowed) as refused:
        services.model_access.check(lin, "gpt-4o")
    error = refused.value
    assert isinstance(error, InvalidParameter)
    assert (error.code, error.field, error.params["model"]) == (
        "model_not_allowed",
        "model",
        "gpt-4o",
    )
    assert str(error) == "Your team does not allow you to use “gpt-4o”. Choose another model."
    services.model_access.set_role_models(boss, "member", None)
    assert services.model_access.allowed(lin) is None


def test_a_persons_own_list_replaces_their_roles(services: Services) -> None:
    boss, lin = people(services)
    wen = services.infra.users.create_user("wen")
    services.model_access.set_role_models(boss, "member", ["gpt-4o-mini"])
    services.model_access.set_person_models(boss, lin.id, ["claude-3-5-sonnet"])
    assert services.model_access.allowed(lin) == {"claude-3-5-sonnet"}
    assert services.model_access.allowed(wen) == {"gpt-4o-mini"}
    services.model_access.set_person_models(boss, boss.id, ["deepseek-chat"])
    assert services.model_access.allowed(boss) == {"deepseek-chat"}  # admins too, per person
    view = services.model_access.settings_view()
    assert dict(view.roles) == {"member": {"gpt-4o-mini"}}
    assert dict(view.people) == {lin.id: {"claude-3-5-sonnet"}, boss.id: {"deepseek-chat"}}
    services.model_access.set_person_models(boss, lin.id, None)
    assert services.model_access.allowed(lin) == {"gpt-4o-mini"}


def test_one_person_can_be_given_every_model_whatever_their_role(services: Services) -> None:
    boss, lin = people(services)
    wen = services.infra.users.create_user("wen")
    services.model_access.set_role_models(boss, "member", ["gpt-4o-mini"])
    services.model_access.set_person_models(boss, lin.id, ["ignored"], every=True)
    assert services.model_access.allowed(lin) is None
    assert services.model_access.allowed(wen) == {"gpt-4o-mini"}
    services.model_access.check(lin, "gpt-4o")
    stored = TeamSettingsRepository(services.infra.database).value(MODEL_ACCESS_KEY)
    assert stored["people"] == {str(lin.id): "*"}
    assert dict(services.model_access.settings_view().people) == {lin.id: None}
    services.model_access.set_person_models(boss, lin.id, None)  # back to their role's
    assert services.model_access.allowed(lin) == {"gpt-4o-mini"}


def test_a_stored_setting_is_read_by_another_process(services: Services) -> None:
    boss, lin = people(services)
    services.model_access.set_role_models(boss, "member", ["gpt-4o-mini"])
    elsewhere = ModelAccess(
        TeamSettingsRepository(services.infra.database),
        services.infra.users.get_user,
        require_admin=services.accounts.require_admin,
    )
    assert elsewhere.allowed(lin) == {"gpt-4o-mini"}
    stored = TeamSettingsRepository(services.infra.database).value(MODEL_ACCESS_KEY)
    assert stored == {"roles": {"member": ["gpt-4o-mini"]}, "people": {}}


def test_only_administrators_set_model_access(services: Services) -> None:
    boss, lin = people(services)
    with pytest.raises(AccountError) as refused:
        services.model_access.set_role_models(lin, "member", ["gpt-4o"])
    assert refused.value.code == "admins_only"
    with pytest.raises(AccountError) as refused:
        services.model_access.set_person_models(lin, lin.id, None)
    assert refused.value.code == "admins_only"
    with pytest.raises(AccountError) as refused:
        services.model_access.set_role_models(boss, "owner", ["gpt-4o"])
    assert refused.value.code == "unknown_role"
    with pytest.raises(AccountError) as refused:
        services.model_access.set_person_models(boss, 9999, ["gpt-4o"])
    assert refused.value.code == "no_such_user"
    assert services.model_access.allowed(lin) is None


def test_the_service_refuses_a_forbidden_model_however_it_is_asked(
    services: Services, fake_api: FakeOpenAI
) -> None:
    """No page involved: send, edit and regenerate called directly are refused before
    anything is saved or sent, and an allowed model still goes through."""
    boss, lin = people(services)
    view = services.chat.send(lin.id, None, "hello", GPT)
    assert services.infra.worker.wait_idle(10)
    question, reply = view.thread
    conversation = view.conversation.id
    services.model_access.set_role_models(boss, "member", ["deepseek-chat"])
    requests = len(fake_api.chat_requests())
    with pytest.raises(ModelNotAllowed):
        services.chat.send(lin.id, conversation, "again", GPT)
    with pytest.raises(ModelNotAllowed):
        services.chat.send(lin.id, None, "a new chat", GPT)
    with pytest.raises(ModelNotAllowed):
        services.chat.edit(lin.id, question.id, "changed", GPT)
    with pytest.raises(ModelNotAllowed):
        services.chat.regenerate(lin.id, reply.id)  # with the conversation's stored model
    with pytest.raises(ModelNotAllowed):
        services.chat.regenerate(lin.id, reply.id, GPT)
    assert len(fake_api.chat_requests()) == requests
    assert len(services.chat.open(lin.id, conversation).thread) == 2
    services.chat.send(lin.id, conversation, "fine", DEEPSEEK)
    services.chat.send(boss.id, None, "admins are not limited", GPT)
    assert services.infra.worker.wait_idle(10)
    assert [r.body["model"] for r in fake_api.chat_requests()[requests:]] == [
        "deepseek-chat",
        "gpt-4o",
    ]


def test_the_picker_list_offers_only_allowed_models(services: Services) -> None:
    boss, lin = people(services)
    assert "gpt-4o" in services.model_list().ids
    services.model_access.set_role_models(boss, "member", ["deepseek-chat", "not-listed"])
    assert services.model_list_for(lin) == ModelList(("deepseek-chat",))
    assert services.model_list_for(boss) == services.model_list()
    # A fallback list (the catalogue failed) stays a fallback, offering the allowed models.
    fallback = ModelList(("gpt-4o",), UNAVAILABLE_NOTE)
    offered = services.model_access.offered(fallback, lin)
    assert offered == ModelList(("deepseek-chat", "not-listed"), UNAVAILABLE_NOTE)


# --- the pages -------------------------------------------------------------------------------


@pytest.fixture
def app_services(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[Services]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-model-access")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'access.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    yield shared_services(load_settings())
    st.cache_resource.clear()
    close_shared_services()


def sign_in(monkeypatch: pytest.MonkeyPatch, user: UserRecord) -> None:
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: user)


def test_a_members_picker_does_not_list_a_forbidden_model(
    app_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss, lin = people(app_services)
    app_services.model_access.set_role_models(boss, "member", ["deepseek-chat", "gpt-4o-mini"])
    sign_in(monkeypatch, lin)
    at = AppTest.from_file(APP, default_timeout=20).run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="p_model")
    assert "gpt-4o" not in picker.options  # the default model, forbidden to members
    assert picker.value in {"deepseek-chat", "gpt-4o-mini"}


def test_a_model_forbidden_while_the_page_was_open_is_refused_as_the_chats_notice(
    app_services: Services, monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI
) -> None:
    """The picker held a model an administrator then forbade (as a model typed by hand
    would be): the send is refused with the chat's notice, and the picker moves off it."""
    boss, lin = people(app_services)
    sign_in(monkeypatch, lin)
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.selectbox(key="p_model").set_value("claude-3-5-sonnet").run()
    app_services.model_access.set_role_models(boss, "member", ["deepseek-chat"])
    at.chat_input[0].set_value("hello").run()
    assert not at.exception, at.exception
    notices = [warning.value for warning in at.warning]
    assert any("Your team does not allow you to use" in n for n in notices)
    assert fake_api.chat_requests() == []
    assert at.selectbox(key="p_model").value == "deepseek-chat"


def test_the_admin_limits_members_on_the_admin_page(
    app_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss, lin = people(app_services)
    sign_in(monkeypatch, boss)
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    at.toggle(key="model_access_all_member").set_value(False)
    at.multiselect(key="model_access_models_member").set_value(["gpt-4o-mini"])
    at.button(key="model_access_save_member").click().run()
    assert not at.exception, at.exception
    assert any("Model access saved." in s.value for s in at.success)
    assert app_services.model_access.allowed(lin) == {"gpt-4o-mini"}
    at.selectbox(key="model_access_person").set_value(lin.id).run()
    at.radio(key=f"model_access_mode_{lin.id}").set_value("own")
    at.multiselect(key=f"model_access_person_models_{lin.id}").set_value(["deepseek-chat"])
    at.button(key=f"model_access_save_person_{lin.id}").click().run()
    assert not at.exception, at.exception
    assert app_services.model_access.allowed(lin) == {"deepseek-chat"}
    assert app_services.model_access.allowed(boss) is None
    at.radio(key=f"model_access_mode_{lin.id}").set_value("every")
    at.button(key=f"model_access_save_person_{lin.id}").click().run()
    assert not at.exception, at.exception
    assert app_services.model_access.allowed(lin) is None
    assert at.radio(key=f"model_access_mode_{lin.id}").value == "every"
