"""A system prompt's blanks on the chat page (AppTest): the form asks for them, fills them into
the system prompt, and nothing is sent while one is left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from chatcore.wiring import close_shared_services
from tests.support.fake_openai import FakeOpenAI

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PROMPT = "p_system_prompt"


@pytest.fixture(autouse=True)
def app_env(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-blank-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pages.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    yield
    st.cache_resource.clear()
    close_shared_services()


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=20)
    at.session_state["presets_panel"] = True
    return at.run()


def blank_inputs(at: AppTest) -> dict[str, str]:
    """The form's boxes: label (the blank's name) to what is typed in it."""
    return {
        box.label: box.value for box in at.text_input if str(box.key).startswith("prompt_blank:")
    }


def fill_in(at: AppTest, **values: str) -> AppTest:
    for name, value in values.items():
        at.text_input(key=f"prompt_blank:{name}").input(value)
    return next(b for b in at.button if b.label == "Fill in").click().run()


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def test_a_typed_blank_is_asked_for_and_nothing_is_sent_until_it_is_filled(
    fake_api: FakeOpenAI,
) -> None:
    at = run_app()
    assert blank_inputs(at) == {}
    at.text_area(key=PROMPT).input("Translate into {{language}}; keep {{ language }} terms.").run()
    assert blank_inputs(at) == {"language": ""}
    # Sending now is refused, with the reason, and reaches no model.
    at = at.chat_input[0].set_value("hello").run()
    notice = "\n".join(w.value for w in at.warning)
    assert "Not sent" in notice and "still has blanks to fill: language" in notice
    assert not at.exception
    assert fake_api.chat_requests() == []
    assert at.chat_message.len == 0
    # Filled in: the system prompt holds the value, the form is gone, and it is sent.
    at = fill_in(at, language="French")
    assert at.text_area(key=PROMPT).value == "Translate into French; keep French terms."
    assert blank_inputs(at) == {}
    assert any("system prompt is ready" in s.value for s in at.success)
    at.chat_input[0].set_value("hello").run()
    fake_api.wait_for_requests(1)
    [request] = fake_api.chat_requests()
    assert request.body["messages"][0] == {
        "role": "system",
        "content": "Translate into French; keep French terms.",
    }


def test_a_preset_with_blanks_asks_for_them_when_loaded(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_area(key=PROMPT).input("把下文译成{{语言}}，语气{{tone}}。*{{语言}}*").run()
    at.text_input(key="preset_name").input("Translator")
    at = click(at, "Save preset")
    assert any("Saved preset “Translator”" in s.value for s in at.success)
    at.text_area(key=PROMPT).input("").run()
    assert blank_inputs(at) == {}
    at.selectbox(key="preset_chosen").select_index(0).run()
    at = click(at, "Start chat")
    assert at.text_area(key=PROMPT).value == "把下文译成{{语言}}，语气{{tone}}。*{{语言}}*"
    assert blank_inputs(at) == {"语言": "", "tone": ""}
    # One left empty: refused by name, nothing changed.
    at = fill_in(at, 语言="英语")
    assert "Fill in “tone” before using this prompt." in "\n".join(e.value for e in at.error)
    assert at.text_area(key=PROMPT).value == "把下文译成{{语言}}，语气{{tone}}。*{{语言}}*"
    at = fill_in(at, tone="*正式*")
    assert at.text_area(key=PROMPT).value == "把下文译成英语，语气*正式*。*英语*"
    at.chat_input[0].set_value("你好").run()
    fake_api.wait_for_requests(1)
    system = fake_api.chat_requests()[-1].body["messages"][0]
    assert system == {"role": "system", "content": "把下文译成英语，语气*正式*。*英语*"}


def test_a_name_is_shown_as_written_not_as_markdown(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_area(key=PROMPT).input("{{__init__}}").run()
    assert blank_inputs(at) == {r"\_\_init\_\_": ""}
