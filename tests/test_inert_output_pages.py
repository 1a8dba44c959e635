"""What a model, tool or upstream names reaches the page inert (through AppTest): an image in a
reply, also in a shared read-only view, becomes a link; function names, call ids, model ids,
fingerprints and upstream errors are shown as the text they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from chatcore.config import load_settings
from chatcore.markdown_safety import IMAGE_ICON
from chatcore.wiring import close_shared_services, shared_services
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.markdown import code_span_content, live_images
from tests.support.pages import run_app
from ui.text import code, plain

LEAK = "http://127.0.0.1:9/leak.png?d=secret"
HOSTILE = "x`**![](http://127.0.0.1:9/h.png)**"  # breaks out of a one-backtick code span


@pytest.fixture(autouse=True)
def app_env(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-inert-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'inert.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    monkeypatch.setenv("ANYCHAT_IMAGE_HOSTS", "img.example.com")
    yield
    st.cache_resource.clear()
    close_shared_services()  # the sign-in routes' registry holds them too


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def markdown_values(at: AppTest) -> list[str]:
    return [element.value for element in at.markdown]


# -- ui.text.code ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [HOSTILE, "call_0", "`", "``a``", "a`b``c", " padded ", "`edge", "edge`", "中文`名`", "   "],
)
def test_code_shows_any_name_as_exactly_one_code_span(name: str) -> None:
    assert code_span_content(code(name)) == name


def test_code_turns_line_breaks_into_the_spaces_a_code_span_shows() -> None:
    assert code_span_content(code("a\n# b\r\n- c")) == "a # b - c"


# -- replies -----------------------------------------------------------------------------------


def test_a_reply_image_from_elsewhere_is_drawn_as_a_link(fake_api: FakeOpenAI) -> None:
    reply = f"See ![chart]({LEAK}) and ![ok](https://img.example.com/ok.png) and `![c]({LEAK})`"
    fake_api.enqueue(Behavior(text=reply))
    at = send(run_app(), "draw a chart")
    shown = reply.replace("![chart]", f"[{IMAGE_ICON} chart]")
    assert shown in markdown_values(at)
    again = run_app({"c": at.query_params["c"]})  # drawn from storage, not from the stream
    assert shown in markdown_values(again)


def code_blocks(at: AppTest) -> list[str]:
    """The text of each code block drawn by ui/code_block.py, as its runs join."""
    elements = at.get("bidi_component")
    return ["".join(text for _name, text in json.loads(e.proto.json)[0]) for e in elements]


def test_a_reply_code_block_has_its_own_element_and_the_text_around_it_stays_inert(
    fake_api: FakeOpenAI,
) -> None:
    code = f"x = '![b]({LEAK})'  # <script>alert(1)</script>"
    reply = f"Before ![a]({LEAK})\n\n```python\n{code}\n```\n\nAfter ![c]({LEAK})"
    fake_api.enqueue(Behavior(text=reply))
    at = send(run_app(), "some code")
    again = run_app({"c": at.query_params["c"]})  # drawn from storage, not from the stream
    for drawn in (at, again):
        assert code_blocks(drawn) == [code]
        values = markdown_values(drawn)
        assert f"Before [{IMAGE_ICON} a]({LEAK})" in values
        assert f"After [{IMAGE_ICON} c]({LEAK})" in values
        assert not [value for value in values if "```" in value or "x = " in value]


def test_a_shared_read_only_view_draws_images_inert_too(fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text=f"![x]({LEAK})"))
    at = send(run_app(), "share this")
    services = shared_services(load_settings())
    link = services.sharing.create(services.local_user.id, at.query_params["c"])
    shared = run_app({"share": link.token})
    assert not shared.exception
    assert f"[{IMAGE_ICON} x]({LEAK})" in markdown_values(shared)
    assert all(live_images(value) == [] for value in markdown_values(shared))


def test_a_hostile_function_name_and_call_id_are_shown_as_text(fake_api: FakeOpenAI) -> None:
    call_id = "call`**![](http://127.0.0.1:9/id.png)**"
    fake_api.enqueue(
        Behavior(tool_calls=[{"id": call_id, "name": HOSTILE, "arguments": {"q": 1}}]),
        Behavior(text="done"),
    )
    at = send(run_app(), "use the tool")
    calls = [value for value in markdown_values(at) if value.startswith(":material/build:")]
    assert len(calls) == 1
    prefix, suffix = ":material/build: Calls **", "**"
    assert calls[0].startswith(prefix) and calls[0].endswith(suffix)
    assert code_span_content(calls[0][len(prefix) : -len(suffix)]) == HOSTILE
    field = at.text_area(key=f"tool-result-{call_id}")
    assert field.label == f"Result of {plain(HOSTILE)}"
    field.input("42")
    next(button for button in at.button if button.label == "Send result").click().run()
    assert not at.exception, at.exception
    source = f"{code(HOSTILE)} returned (call {code(call_id)})"
    assert source in [caption.value for caption in at.caption]
    assert "done" in markdown_values(at)


def test_upstream_words_in_captions_and_errors_are_escaped(fake_api: FakeOpenAI) -> None:
    fingerprint = "fp_![x](http://127.0.0.1:9/fp.png)"
    fake_api.enqueue(
        Behavior(text="hi", system_fingerprint=fingerprint),
        Behavior(status=400, error_message="bad ![x](http://127.0.0.1:9/err.png) request"),
    )
    at = send(run_app(), "first")
    assert any(f"fingerprint {plain(fingerprint)}" in c.value for c in at.caption)
    send(at, "second")
    assert "HTTP 400" in at.error[0].value
    assert plain("bad ![x](http://127.0.0.1:9/err.png) request") in at.error[0].value
    assert all(live_images(c.value) == [] for c in [*at.caption, *at.error])
