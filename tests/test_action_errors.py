"""Every action a page offers, under an exhausted quota, a disabled account and a missing key.

A refusal is a sentence on the page, never Streamlit's error box, and nothing reaches the API.
Each page is opened first and the condition arises afterwards, while the tab is open: the
quota runs out, an administrator disables the account, or (on a server without a team key)
the teammate removes their personal key in another tab. So what is tested is the check when
the action runs, not how the page was drawn. AppTest sends no cookies and has no guard in
front, so the account is the record the tab started with, supplied by replacing ui.auth's
resolver; ending a disabled account's tab is the guard's part (tests/test_guard.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.chat.params import GenerationParams
from chatcore.chat.use_cases import ConversationView
from chatcore.config import load_settings
from chatcore.wiring import Services, close_shared_services, shared_services
from storage import UserRecord
from tests.support.fake_openai import Behavior, FakeOpenAI
from ui.chat_page import MENU_PREFIX

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PASSWORD = "a long enough password"
NEW_PASSWORD = "another long password"
ADDRESS = "198.51.100.7"

CONDITIONS = ("quota", "disabled", "no_key")
REFUSALS = {
    "quota": re.compile(r"You have used [\d,]+ of your 1 tokens today"),
    "disabled": re.compile(re.escape("This account is disabled, so nothing can be sent.")),
    "no_key": re.compile(
        re.escape("No API key is configured for the team, and you have no personal key")
    ),
}
ADMINS_ONLY = "Only administrators can do that."

PLAIN = GenerationParams(model="gpt-4o")
CALC = {"id": "call_calc", "name": "calculator", "arguments": '{"expression": "6*7"}'}
LOOKUP = {"id": "call_look", "name": "lookup", "arguments": '{"q": "tides"}'}
LOOKUP_TOOL = {"name": "lookup", "description": "", "parameters": {"type": "object"}}


@dataclass
class Team:
    services: Services
    boss: UserRecord  # as the open tab knows it: enabled, administrator
    condition: str

    def impose(self) -> None:
        if self.condition == "quota":  # the conversation made first used more than 1 token
            self.services.accounts.set_quota(self.boss, self.boss.id, 1, "day")
        elif self.condition == "disabled":
            self.services.infra.users.set_disabled(self.boss.id, True)
        else:  # no team key, and now no personal key either
            self.services.keys.remove(self.boss.id)


@pytest.fixture(params=CONDITIONS)
def team(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    fake_api: FakeOpenAI,
    tmp_path: Path,
) -> Iterator[Team]:
    condition = request.param
    team_key = "" if condition == "no_key" else "sk-action-errors"
    monkeypatch.setenv("ANYAPI_API_KEY", team_key)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "local")
    services = shared_services(load_settings())
    boss = services.infra.users.create_user("boss", role="admin")
    if condition == "no_key":
        services.keys.save(boss.id, "sk-boss-personal")
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: boss)
    yield Team(services, boss, condition)
    st.cache_resource.clear()
    close_shared_services()  # the sign-in routes' registry holds them too


def converse(
    team: Team, fake_api: FakeOpenAI, params: GenerationParams, *behaviors: Behavior
) -> ConversationView:
    """A finished first turn, made while everything is allowed; the API's log is cleared."""
    fake_api.enqueue(*behaviors)
    sent = team.services.chat.send(team.boss.id, None, "hello", params)
    assert team.services.infra.worker.wait_idle(10)
    fake_api.reset()
    return team.services.chat.open(team.boss.id, sent.conversation.id)


def open_app(page: str | None = None, conversation_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    at.session_state["presets_panel"] = True
    if conversation_id:
        at.query_params["c"] = conversation_id
        at.session_state[f"{MENU_PREFIX}{conversation_id}"] = True  # its menu open (Share)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    alerts = [*at.error, *at.warning, *at.info, *at.success]
    return "\n".join(alert.value for alert in alerts)


def click(at: AppTest, label: str) -> None:
    next(button for button in at.button if button.label == label).click().run()


# --- the chat page: every way of sending is refused ------------------------------------------


def _send(at: AppTest, view: ConversationView) -> None:
    at.chat_input[0].set_value("one more question").run()


def _edit(at: AppTest, view: ConversationView) -> None:
    question = view.thread[0].id
    at.session_state[f"edit-pop-{question}"] = True
    at.run()
    at.text_area(key=f"edit-{question}").input("hello, edited")
    at.button(key=f"edit-send-{question}").click().run()


def _regenerate(at: AppTest, view: ConversationView) -> None:
    button = at.button(key=f"regen-{view.thread[-1].id}")
    assert button.label in ("Regenerate", "Regenerate all")
    button.click().run()


def _run_tool(at: AppTest, view: ConversationView) -> None:
    at.button(key="run-tool-call_calc").click().run()


def _send_tool_result(at: AppTest, view: ConversationView) -> None:
    at.text_area(key="tool-result-call_look").input("high tide at noon")
    click(at, "Send result")


ChatAction = tuple[
    GenerationParams, tuple[Behavior, ...], Callable[[AppTest, ConversationView], None]
]
CHAT_ACTIONS: dict[str, ChatAction] = {
    "send": (PLAIN, (), _send),
    "edit": (PLAIN, (), _edit),
    "regenerate": (PLAIN, (), _regenerate),
    "regenerate all": (replace(PLAIN, n=2), (), _regenerate),
    "run a built-in tool": (
        replace(PLAIN, builtin_tools=("calculator",)),
        (Behavior(tool_calls=[CALC]),),
        _run_tool,
    ),
    "send a tool result": (
        replace(PLAIN, tools=(LOOKUP_TOOL,)),
        (Behavior(tool_calls=[LOOKUP]),),
        _send_tool_result,
    ),
}


@pytest.mark.parametrize("action", CHAT_ACTIONS)
def test_a_refused_send_says_why_and_nothing_is_sent_or_saved(
    team: Team, fake_api: FakeOpenAI, action: str
) -> None:
    params, behaviors, act = CHAT_ACTIONS[action]
    before = converse(team, fake_api, params, *behaviors)
    at = open_app(conversation_id=before.conversation.id)
    team.impose()

    act(at, before)

    assert not at.exception, at.exception
    refusal = REFUSALS[team.condition]
    if (action, team.condition) == ("send", "no_key"):
        # No key at all: the chat box is disabled, and the page says why.
        assert at.chat_input[0].disabled
        refusal = re.compile("No AnyAPI key is configured")
    assert refusal.search(shown(at)), shown(at)
    assert fake_api.chat_requests() == []
    after = team.services.chat.open(team.boss.id, before.conversation.id)
    assert (after.thread, after.alternatives) == (before.thread, before.alternatives)


# --- presets and sharing send nothing, so none of the three conditions stops them ------------


def _save_preset(at: AppTest, team: Team) -> None:
    at.text_input(key="preset_name").input("Captain")
    click(at, "Save preset")
    assert "Saved preset “Captain”." in shown(at)


def _apply_preset(at: AppTest, team: Team) -> None:
    at.button(key="preset_apply").click().run()
    assert at.session_state["params"]["system_prompt"] == "Talk like a pirate."


def _delete_preset(at: AppTest, team: Team) -> None:
    at.button(key="preset_delete").click().run()
    assert "Preset deleted." in shown(at)
    assert team.services.presets.available(team.boss.id) == []


def _share(at: AppTest, team: Team) -> None:
    click(at, "Share read-only with the team")
    assert any("share=" in code.value for code in at.code)


SETTINGS_ACTIONS: dict[str, Callable[[AppTest, Team], None]] = {
    "save a preset": _save_preset,
    "apply a preset": _apply_preset,
    "delete a preset": _delete_preset,
    "share": _share,
}


@pytest.mark.parametrize("action", SETTINGS_ACTIONS)
def test_actions_that_send_nothing_still_work(
    team: Team, fake_api: FakeOpenAI, action: str
) -> None:
    """The guard ends a disabled account's tab; within the page these are not requests."""
    view = converse(team, fake_api, PLAIN)
    pirate = replace(PLAIN, system_prompt="Talk like a pirate.")
    preset = team.services.presets.save(team.boss.id, "Pirate", pirate, shared=False)
    at = open_app(conversation_id=view.conversation.id)
    at.selectbox(key="preset_chosen").set_value(preset.id).run()
    team.impose()

    SETTINGS_ACTIONS[action](at, team)

    assert not at.exception, at.exception
    assert fake_api.chat_requests() == []


def test_continuing_a_link_revoked_meanwhile_says_so(team: Team, fake_api: FakeOpenAI) -> None:
    view = converse(team, fake_api, PLAIN)
    link = team.services.sharing.create(team.boss.id, view.conversation.id)
    at = AppTest.from_file(APP, default_timeout=20)
    at.query_params["share"] = link.token
    at.run()
    team.impose()  # none of them matters here: copying sends nothing
    team.services.sharing.revoke(team.boss.id, link.share.id)

    click(at, "Continue as my own copy")

    assert not at.exception, at.exception
    assert "This shared link does not exist, or its owner revoked it." in shown(at)
    assert len(team.services.chat.list_conversations(team.boss.id).items) == 1  # no copy


# --- the Admin page: an administrator over quota or without a key still administers ----------


@dataclass(frozen=True)
class AdminAction:
    act: Callable[[AppTest, UserRecord], None]
    done: str  # the success notice
    happened: Callable[[Team, UserRecord], bool]


def _create(at: AppTest, lin: UserRecord) -> None:
    at.text_input(key="new_username").input("mei")
    at.text_input(key="new_password").input(PASSWORD)
    click(at, "Create")


def _reset_password(at: AppTest, lin: UserRecord) -> None:
    at.text_input(key=f"reset_password_{lin.id}").input(NEW_PASSWORD)
    click(at, "Reset password (ends their sessions)")


def _quota(at: AppTest, lin: UserRecord) -> None:
    at.number_input(key=f"quota_tokens_{lin.id}").set_value(5000)
    click(at, "Save quota")


def _user(team: Team, user: UserRecord) -> UserRecord:
    found = team.services.infra.users.get_user(user.id)
    assert found is not None
    return found


ADMIN_ACTIONS = {
    "create a teammate": AdminAction(
        _create,
        "Created mei.",
        lambda team, lin: team.services.infra.users.find_user("mei") is not None,
    ),
    "reset a password": AdminAction(
        _reset_password,
        "Password of lin reset.",
        lambda team, lin: team.services.accounts.sign_in("lin", NEW_PASSWORD).ok,
    ),
    "change a role": AdminAction(
        lambda at, lin: click(at, "Make administrator"),
        "lin is now an administrator.",
        lambda team, lin: _user(team, lin).role == "admin",
    ),
    "disable a teammate": AdminAction(
        lambda at, lin: click(at, "Disable (ends their sessions)"),
        "lin disabled.",
        lambda team, lin: _user(team, lin).disabled,
    ),
    "set a quota": AdminAction(
        _quota,
        "Quota for lin saved.",
        lambda team, lin: _user(team, lin).quota_tokens == 5000,
    ),
    "clear sign-in attempts": AdminAction(
        lambda at, lin: click(at, "Clear failed sign-in attempts"),
        "Sign-in attempts for lin cleared.",
        lambda team, lin: team.services.accounts.sign_in("lin", PASSWORD, address=ADDRESS).ok,
    ),
}


@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_admin_actions_need_an_enabled_administrator_only(
    team: Team, fake_api: FakeOpenAI, action: str
) -> None:
    converse(team, fake_api, PLAIN)  # tokens used, for the quota
    lin = team.services.accounts.create_user(team.boss, "lin", PASSWORD)
    for _ in range(5):  # throttled from this address, for "clear sign-in attempts"
        team.services.accounts.sign_in("lin", "a wrong password", address=ADDRESS)
    at = open_app("admin")
    at.selectbox(key="admin_selected_user").set_value(lin.id).run()
    team.impose()
    admin_action = ADMIN_ACTIONS[action]

    admin_action.act(at, lin)

    assert not at.exception, at.exception
    if team.condition == "disabled":
        assert [error.value for error in at.error] == [ADMINS_ONLY]
        assert not admin_action.happened(team, lin)
    else:
        assert [success.value for success in at.success] == [admin_action.done]
        assert admin_action.happened(team, lin)
    assert fake_api.chat_requests() == []
