"""Each of the spec's 16 request fields: the exact JSON the server receives when it is set, and
its absence when left at default ("default" always means "not sent")."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chatcore.chat.params import GenerationParams
from chatcore.config import Settings
from chatcore.wiring import Services, build_services
from tests.support.fake_openai import FakeOpenAI

# Non-streamed, so the body holds only what the parameters produce.
DEFAULTS = GenerationParams(model="gpt-4o", stream=False)

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression exactly instead of estimating it.",
        "parameters": {
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "Arithmetic such as (2+3)*4/5 or 2**10",
                }
            },
            "required": ["expression"],
        },
    },
}
WEATHER = {"name": "get_weather", "description": "天气", "parameters": {"type": "object"}}

# field -> (parameters that set it, the exact JSON value expected on the wire)
SET_FIELDS: dict[str, tuple[dict[str, Any], Any]] = {
    "model": ({"model": "deepseek-chat"}, "deepseek-chat"),
    "temperature": ({"temperature": 0.0}, 0.0),
    "top_p": ({"top_p": 0.25}, 0.25),
    "n": ({"n": 3}, 3),
    "stop": ({"stop": ("\n\n", "END")}, ["\n\n", "END"]),
    "max_tokens": ({"max_tokens": 321}, 321),
    "presence_penalty": ({"presence_penalty": -1.5}, -1.5),
    "frequency_penalty": ({"frequency_penalty": 2.0}, 2.0),
    "logit_bias": ({"logit_bias": {"1734": -100, "42": 7}}, {"1734": -100, "42": 7}),
    "response_format": ({"json_mode": True}, {"type": "json_object"}),
    "seed": ({"seed": 12345}, 12345),
    "tools": (
        {"builtin_tools": ("calculator",), "tools": (WEATHER,)},
        [
            CALCULATOR,
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "天气",
                    "parameters": {"type": "object"},
                },
            },
        ],
    ),
    "tool_choice": (
        {"tools": (WEATHER,), "tool_choice": "function:get_weather"},
        {"type": "function", "function": {"name": "get_weather"}},
    ),
}
OPTIONAL_FIELDS = [name for name in SET_FIELDS if name != "model"]


def request_for(services: Services, fake_api: FakeOpenAI, params: GenerationParams) -> dict:
    user = services.local_user.id
    text = "Reply in JSON, please." if params.json_mode else "hello"
    services.chat.send(user, None, text, params)
    assert services.infra.worker.wait_idle(10)
    return fake_api.chat_requests()[-1].body


@pytest.mark.parametrize("field", list(SET_FIELDS))
def test_a_set_field_is_sent_exactly(services: Services, fake_api: FakeOpenAI, field: str) -> None:
    overrides, expected = SET_FIELDS[field]
    body = request_for(services, fake_api, replace(DEFAULTS, **overrides))
    assert body[field] == expected
    others = {"model", "messages", "user", *overrides_fields(overrides)}
    assert set(body) == others


def overrides_fields(overrides: dict[str, Any]) -> set[str]:
    """The wire fields a set of parameters produces (tools and tool_choice travel together)."""
    wire_names = {"json_mode": "response_format", "builtin_tools": "tools"}
    return {wire_names.get(name, name) for name in overrides}


@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
def test_a_field_left_at_default_is_absent(
    services: Services, fake_api: FakeOpenAI, field: str
) -> None:
    body = request_for(services, fake_api, DEFAULTS)
    assert field not in body
    assert set(body) == {"model", "messages", "user"}


def test_model_defaults_to_the_configured_one(services: Services, fake_api: FakeOpenAI) -> None:
    params = GenerationParams.from_settings({}, services.settings.default_model)
    body = request_for(services, fake_api, replace(params, stream=False))
    assert body["model"] == services.settings.default_model == "gpt-4o"


def test_messages_carry_the_system_prompt_only_when_set(
    services: Services, fake_api: FakeOpenAI
) -> None:
    body = request_for(services, fake_api, DEFAULTS)
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    body = request_for(services, fake_api, replace(DEFAULTS, system_prompt="Be brief. 简洁。"))
    assert body["messages"] == [
        {"role": "system", "content": "Be brief. 简洁。"},
        {"role": "user", "content": "hello"},
    ]


def test_stream_on_asks_for_usage_and_off_sends_nothing(
    services: Services, fake_api: FakeOpenAI
) -> None:
    body = request_for(services, fake_api, replace(DEFAULTS, stream=True))
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})
    body = request_for(services, fake_api, DEFAULTS)
    assert "stream" not in body and "stream_options" not in body


def test_user_is_a_stable_keyed_pseudonym(services: Services, fake_api: FakeOpenAI) -> None:
    first = request_for(services, fake_api, DEFAULTS)["user"]
    second = request_for(services, fake_api, DEFAULTS)["user"]
    assert first == second
    assert first.startswith("anychat-") and len(first) == len("anychat-") + 32
    assert services.local_user.username not in first
    assert services.chat.request_user(services.local_user.id + 1) != first


def test_a_streamed_request_carries_the_api_key_and_never_an_admin_key(
    settings: Settings, fake_api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are read without the SDK's typed models (chatcore/chat/generation.py), through
    its plain POST, which would also send OPENAI_ADMIN_KEY if asked as the SDK asks by default."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-never-sent")
    services = build_services(settings, prefetch_models=False)
    try:
        request_for(services, fake_api, replace(DEFAULTS, stream=True))
    finally:
        services.close()
    headers = fake_api.chat_requests()[-1].headers
    assert headers["authorization"] == f"Bearer {settings.api_key}"
    assert "sk-admin-never-sent" not in str(headers)
