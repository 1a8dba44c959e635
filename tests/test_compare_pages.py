"""Compare on the chat page (AppTest): the sidebar's choice, the columns headed by their
models, a failing column's Retry, "Continue with this" and "Compare again"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from chatcore.wiring import close_shared_services
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.pages import run_app

OTHERS = ["claude-3-5-sonnet", "deepseek-chat"]


@pytest.fixture(autouse=True)
def app_env(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-compare-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pages.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    monkeypatch.setenv("ANYCHAT_DEFAULT_MODEL", "gpt-4o")
    yield
    st.cache_resource.clear()
    close_shared_services()


def compared(at: AppTest, text: str) -> AppTest:
    picker = at.multiselect(key="compare_with_widget")
    assert "gpt-4o" not in picker.options  # never the picker's own model
    picker.set_value(OTHERS).run()
    at.chat_input[0].set_value(text).run()
    assert not at.exception
    return at


def headings(at: AppTest) -> list[str]:
    reply = at.chat_message[-1]
    # Model ids are escaped for Markdown (gpt\-4o); the reader sees them plain.
    shown = [element.value.replace("\\", "") for element in reply.markdown]
    return [text for text in shown if text.startswith("**")]


def button(at: AppTest, label: str, index: int = 0):  # type: ignore[no-untyped-def]
    return [b for b in at.button if b.label == label][index]


def test_a_comparison_draws_one_column_per_model_headed_by_it(fake_api: FakeOpenAI) -> None:
    fake_api.default = Behavior(sign_model=True, usage={"prompt_tokens": 3, "completion_tokens": 9})
    at = compared(run_app(), "which?")
    assert sorted(r.body["model"] for r in fake_api.chat_requests()) == sorted(["gpt-4o", *OTHERS])
    assert headings(at) == ["**gpt-4o** · selected", "**claude-3-5-sonnet**", "**deepseek-chat**"]
    texts = [element.value for element in at.chat_message[-1].markdown]
    for model in ["gpt-4o", *OTHERS]:
        assert f"[{model}] Echo: which?" in texts
    facts = [c.value for c in at.chat_message[-1].caption]
    assert sum("12 tokens" in fact and "first token" in fact for fact in facts) == 3
    assert "3 models compared" in facts[0]
    # Continue with the second: it is the selected column from then on, after a reload too.
    button(at, "Continue with this", 0).click().run()
    assert headings(at)[1] == "**claude-3-5-sonnet** · selected"
    again = run_app({"c": at.query_params["c"]})
    assert headings(again)[1] == "**claude-3-5-sonnet** · selected"
    # The choice of models stays for the next message of this tab.
    assert at.multiselect(key="compare_with_widget").value == OTHERS


def test_a_failing_column_shows_its_error_and_retries_alone(fake_api: FakeOpenAI) -> None:
    fake_api.by_model = {"deepseek-chat": Behavior(status=503, error_message="overloaded")}
    at = compared(run_app(), "try")
    reply = at.chat_message[-1]
    assert len(reply.error) == 1 and "503" in reply.error[0].value
    assert len(fake_api.chat_requests()) == 3
    fake_api.by_model = {}
    button(at, "Retry").click().run()
    assert not at.exception
    assert [r.body["model"] for r in fake_api.chat_requests()[3:]] == ["deepseek-chat"]
    assert not at.chat_message[-1].error
    assert headings(at)[2] == "**deepseek-chat**"


def test_compare_again_asks_every_model_again(fake_api: FakeOpenAI) -> None:
    at = compared(run_app(), "again")
    button(at, "Compare again").click().run()
    assert not at.exception
    assert sorted(r.body["model"] for r in fake_api.chat_requests()[3:]) == sorted(
        ["gpt-4o", *OTHERS]
    )
    assert len(headings(at)) == 3
