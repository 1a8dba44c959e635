"""The Advanced controls through AppTest: bad values are explained next to the control and
nothing is sent; good ones reach the request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from chatcore.wiring import close_shared_services
from tests.support.fake_openai import FakeOpenAI
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def app_env(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-parameter-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pages.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")  # sign-in has its own tests
    yield
    st.cache_resource.clear()
    close_shared_services()  # the sign-in routes' registry holds them too


def run_app() -> AppTest:
    """The chat page with the Advanced and Presets panels open (they draw nothing when shut)."""
    at = AppTest.from_file(APP, default_timeout=20)
    at.session_state["advanced_panel"] = True
    at.session_state["presets_panel"] = True
    return at.run()


def errors(at: AppTest) -> str:
    return "\n".join(element.value for element in at.error)


def warnings(at: AppTest) -> str:
    return "\n".join(element.value for element in at.warning)


def send(at: AppTest, text: str) -> AppTest:
    return at.chat_input[0].set_value(text).run()


def assert_nothing_sent(fake_api: FakeOpenAI, at: AppTest) -> None:
    assert not at.exception
    assert fake_api.chat_requests() == []
    assert at.chat_message.len == 0  # no conversation was created either


def test_invalid_logit_bias_is_explained_and_nothing_is_sent(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_area(key="p_logit_bias_text").input('{"1734": -100,}').run()
    assert "not valid JSON (line 1, column 15" in errors(at)
    at = send(at, "hello")
    assert "Not sent" in warnings(at) and "not valid JSON" in warnings(at)
    assert_nothing_sent(fake_api, at)
    at.text_area(key="p_logit_bias_text").input('{"1734": 150}').run()
    assert "between -100 and 100; got 150" in errors(at)
    at.text_area(key="p_logit_bias_text").input('{"1734": -100}').run()
    assert errors(at) == ""
    send(at, "hello")
    fake_api.wait_for_requests(1)
    assert fake_api.chat_requests()[-1].body["logit_bias"] == {"1734": -100}


def test_a_fifth_stop_sequence_is_refused(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_area(key="p_stop_text").input("a\nb\nc\nd\ne").run()
    assert "At most 4 stop sequences" in errors(at)
    assert_nothing_sent(fake_api, send(at, "hello"))
    at.text_area(key="p_stop_text").input("a\n\nb").run()
    assert "Stop sequence 2 is empty" in errors(at)
    at.text_area(key="p_stop_text").input("END\\n\nSTOP").run()
    send(at, "hello")
    fake_api.wait_for_requests(1)
    assert fake_api.chat_requests()[-1].body["stop"] == ["END\n", "STOP"]


def test_a_seed_that_is_not_a_number_is_refused(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_input(key="p_seed_text").input("forty-two").run()
    assert "seed must be a whole number" in errors(at)
    assert_nothing_sent(fake_api, send(at, "hello"))


def test_an_unknown_model_is_refused_once_the_list_is_loaded(fake_api: FakeOpenAI) -> None:
    warm = run_app()  # the process-wide catalog loads in the background
    deadline = time.monotonic() + 10
    while any("Loading the model list" in c.value for c in warm.caption):
        assert time.monotonic() < deadline, "the model list never loaded"
        time.sleep(0.1)
        warm.run()
    # A model id typed into the picker (accept_new_options) ends up in the settings store;
    # AppTest cannot type into a selectbox, so the store starts with it.
    at = AppTest.from_file(APP, default_timeout=20)
    at.session_state["advanced_panel"] = True
    at.session_state["params"] = {**warm.session_state["params"], "model": "no-such-model"}
    at.session_state["params_loaded_for"] = None
    at.run()
    assert at.selectbox(key="p_model").value == "no-such-model"
    assert f"does not list “{plain('no-such-model')}”" in warnings(at)  # escaped, like titles
    at = send(at, "hello")
    assert "does not offer “no-such-model”" in warnings(at)
    assert_nothing_sent(fake_api, at)


def test_json_mode_asks_before_sending_without_the_word_json(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.toggle(key="p_json_mode").set_value(True).run()
    at = send(at, "list three fruits")
    assert "JSON mode is on" in warnings(at)
    assert_nothing_sent(fake_api, at)
    next(button for button in at.button if button.label == "Send anyway").click().run()
    fake_api.wait_for_requests(1)
    request = fake_api.chat_requests()[-1].body
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"][-1] == {"role": "user", "content": "list three fruits"}
    assert "JSON mode is on" not in warnings(at.run())


def test_the_tools_editor_validates_and_the_function_is_sent(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_input(key="new_tool_name").input("get weather")
    at.text_area(key="new_tool_parameters").input("{}")
    next(b for b in at.button if b.label == "Add function").click().run()
    assert "digits, underscores or hyphens" in errors(at)
    at.text_input(key="new_tool_name").input("get_weather")
    at.text_input(key="new_tool_description").input("Weather for a city")
    at.text_area(key="new_tool_parameters").input('{"type": "object", "properties": {"city": ')
    next(b for b in at.button if b.label == "Add function").click().run()
    assert "not valid JSON" in errors(at)
    at.text_area(key="new_tool_parameters").input(
        '{"type": "object", "properties": {"city": {"type": "string"}}}'
    )
    next(b for b in at.button if b.label == "Add function").click().run()
    assert errors(at) == ""
    assert "call get_weather" in at.selectbox(key="p_tool_choice").options
    at.selectbox(key="p_tool_choice").set_value("function:get_weather").run()
    send(at, "weather in 北京?")
    fake_api.wait_for_requests(1)
    body = fake_api.chat_requests()[-1].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_a_preset_starts_a_new_chat_with_its_settings(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_area(key="p_system_prompt").input("Answer like a pirate.").run()
    at.toggle(key="p_temperature_on").set_value(True).run()
    at.text_input(key="preset_name").input("Pirate")
    at.checkbox(key="preset_shared").check()
    next(b for b in at.button if b.label == "Save preset").click().run()
    assert any("Saved preset “Pirate”" in s.value for s in at.success)
    # Back to defaults, then start from the preset.
    at.text_area(key="p_system_prompt").input("").run()
    at.toggle(key="p_temperature_on").set_value(False).run()
    presets = at.selectbox(key="preset_chosen")
    assert presets.options == ["Pirate (shared)"]
    presets.select_index(0).run()
    next(b for b in at.button if b.label == "Start chat").click().run()
    assert at.text_area(key="p_system_prompt").value == "Answer like a pirate."
    assert at.toggle(key="p_temperature_on").value is True
    send(at, "ahoy")
    fake_api.wait_for_requests(1)
    body = fake_api.chat_requests()[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert body["temperature"] == 1.0


def test_a_closed_advanced_panel_draws_nothing_and_keeps_its_values(fake_api: FakeOpenAI) -> None:
    at = run_app()
    at.text_input(key="p_seed_text").input("7").run()
    at.session_state["advanced_panel"] = False
    at.run()
    assert not [w for w in at.text_input if w.key == "p_seed_text"]
    send(at, "hello")
    fake_api.wait_for_requests(1)
    assert fake_api.chat_requests()[-1].body["seed"] == 7
