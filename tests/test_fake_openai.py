"""End-to-end checks of the fake upstream itself, over real HTTP.

The app's tool, JSON-mode, stop and multi-choice tests are only as good as the fake
they run against, so its newer behaviors are pinned here through the official SDK
(what the app uses) and raw HTTP (to see the exact chunk order on the wire).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.fake_openai import Behavior, FakeOpenAI, parse_directives

MODEL = "gpt-4o"
CALC_ARGS = {"expression": "6*7"}
CALC_DIRECTIVE = '[[tool:calculator {"expression": "6*7"}]]'


@pytest.fixture
def client(fake_api: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_api.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _post(fake: FakeOpenAI, body: dict[str, Any]) -> Any:
    """POST a chat request with urllib; parsed JSON, or the list of SSE payloads when streaming."""
    request = urllib.request.Request(
        f"{fake.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer sk-test"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read().decode()
    if not body.get("stream"):
        return json.loads(raw)
    lines = [line.removeprefix("data: ") for line in raw.split("\n\n") if line.strip()]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def _stream_texts(client: openai.OpenAI, **kwargs: Any) -> tuple[dict[int, str], dict[int, str]]:
    """Stream a request through the SDK; joined content and finish_reason per choice."""
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in client.chat.completions.create(model=MODEL, stream=True, **kwargs):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason is not None:
                finishes[choice.index] = choice.finish_reason
    return texts, finishes


def _tool_turn(user_text: str, *results: str) -> list[dict[str, Any]]:
    """A conversation that ends with the app sending back tool results."""
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "calculator", "arguments": "{}"},
        }
        for i in range(len(results))
    ]
    return [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": user_text},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *(
            {"role": "tool", "tool_call_id": f"call_{i}", "content": r}
            for i, r in enumerate(results)
        ),
    ]


# -- directive parsing --------------------------------------------------------


def test_parse_directives_new_names() -> None:
    overrides = parse_directives(
        '[[tool:search {"q": "cats"}]] [[tool:now]] [[tool:calc {oops]] '
        "[[finishes:stop, length,,content_filter]] [[fingerprint:fp_abc]] hello"
    )
    assert overrides["tool_calls"] == [
        {"id": "call_0", "name": "search", "arguments": {"q": "cats"}},
        {"id": "call_1", "name": "now", "arguments": {}},
        {"id": "call_2", "name": "calc", "arguments": "{oops"},
    ]
    assert overrides["finish_reasons"] == ["stop", "length", "", "content_filter"]
    assert overrides["system_fingerprint"] == "fp_abc"


def test_parse_directives_ignores_empty_tool_and_fingerprint() -> None:
    assert parse_directives("[[tool: ]] [[fingerprint:]] hi") == {}


# -- tool-result turns ----------------------------------------------------------


def test_tool_result_turn_answers_in_text(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    messages = _tool_turn(f"{CALC_DIRECTIVE} what is 6*7?", "42")
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    choice = completion.choices[0]
    assert choice.message.content == "Tool results: 42"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"


def test_tool_result_turn_streams_text_joining_trailing_results(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    messages = _tool_turn(f"{CALC_DIRECTIVE} {CALC_DIRECTIVE}", "42", "7")
    # An earlier tool message that is not part of the trailing run must not be included.
    messages.insert(1, {"role": "tool", "tool_call_id": "old", "content": "old"})
    saw_tool_delta = False
    texts: dict[int, str] = {}
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    for chunk in stream:
        for choice in chunk.choices:
            saw_tool_delta |= bool(choice.delta.tool_calls)
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason is not None:
                assert choice.finish_reason == "stop"
    assert texts == {0: "Tool results: 42; 7"}
    assert not saw_tool_delta


def test_queued_behavior_wins_over_tool_result_turn(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_api.enqueue(Behavior(tool_calls=[{"name": "calculator", "arguments": CALC_ARGS}]))
    completion = client.chat.completions.create(model=MODEL, messages=_tool_turn("hi", "42"))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert json.loads(choice.message.tool_calls[0].function.arguments) == CALC_ARGS


# -- tool-call directive --------------------------------------------------------


def test_tool_directive_single_call(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=_user(f"{CALC_DIRECTIVE} please")
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "call_0"
    assert calls[0].type == "function"
    assert calls[0].function.name == "calculator"
    assert json.loads(calls[0].function.arguments) == CALC_ARGS


def test_tool_directive_twice_gives_two_calls_in_order(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    text = f'{CALC_DIRECTIVE} and [[tool:get_time {{"tz": "UTC"}}]] and [[tool:broken {{x]]'
    completion = client.chat.completions.create(model=MODEL, messages=_user(text))
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_0", "calculator"),
        ("call_1", "get_time"),
        ("call_2", "broken"),
    ]
    assert json.loads(calls[0].function.arguments) == CALC_ARGS
    assert json.loads(calls[1].function.arguments) == {"tz": "UTC"}
    assert calls[2].function.arguments == "{x"  # invalid JSON is passed through verbatim


def test_tool_directive_without_args_defaults_to_empty_object(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=_user("[[tool:now]]"))
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "now"
    assert json.loads(calls[0].function.arguments) == {}


def test_streamed_tool_call_arguments_reassemble(fake_api: FakeOpenAI) -> None:
    text = f'{CALC_DIRECTIVE} [[tool:get_time {{"tz": "Europe/Paris"}}]]'
    body = {"model": MODEL, "messages": _user(text), "stream": True}
    chunks = _post(fake_api, body)
    deltas = [c["choices"][0] for c in chunks]
    tool_deltas = [d["delta"]["tool_calls"][0] for d in deltas if d["delta"].get("tool_calls")]
    # Each call: a first delta with index/id/name and half the arguments, then the rest.
    assert len(tool_deltas) == 4
    assert [d["index"] for d in tool_deltas] == [0, 0, 1, 1]
    assert tool_deltas[0]["id"] == "call_0"
    assert tool_deltas[0]["function"]["name"] == "calculator"
    assert tool_deltas[2]["id"] == "call_1"
    assert tool_deltas[2]["function"]["name"] == "get_time"
    assert "id" not in tool_deltas[1] and "name" not in tool_deltas[1]["function"]
    assert tool_deltas[0]["function"]["arguments"]  # both halves carry text
    assert tool_deltas[1]["function"]["arguments"]
    arguments = ["", ""]
    for delta in tool_deltas:
        arguments[delta["index"]] += delta["function"]["arguments"]
    assert json.loads(arguments[0]) == CALC_ARGS
    assert json.loads(arguments[1]) == {"tz": "Europe/Paris"}
    assert deltas[-1]["finish_reason"] == "tool_calls"


def test_sdk_stream_tool_calls_reassemble(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    stream = client.chat.completions.create(
        model=MODEL, messages=_user(CALC_DIRECTIVE), stream=True
    )
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                if delta.function is not None:
                    entry["name"] += delta.function.name or ""
                    entry["arguments"] += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["id"] == "call_0"
    assert calls[0]["name"] == "calculator"
    assert json.loads(calls[0]["arguments"]) == CALC_ARGS


# -- JSON mode --------------------------------------------------------------------


def test_json_mode_echo_is_valid_json_for_each_choice(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=_user("Give me JSON, café"),
        response_format={"type": "json_object"},
        n=2,
    )
    first, second = (json.loads(c.message.content or "") for c in completion.choices)
    assert first == {"echo": "Give me JSON, café"}
    assert second == {"echo": "Give me JSON, café", "choice": 1}
    assert "café" in (completion.choices[0].message.content or "")  # ensure_ascii=False


def test_json_mode_streamed_matches_non_streamed(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    kwargs: dict[str, Any] = {
        "messages": _user("stream json"),
        "response_format": {"type": "json_object"},
        "n": 2,
    }
    texts, finishes = _stream_texts(client, **kwargs)
    assert json.loads(texts[0]) == {"echo": "stream json"}
    assert json.loads(texts[1]) == {"echo": "stream json", "choice": 1}
    assert texts[0] != texts[1]
    assert finishes == {0: "stop", 1: "stop"}
    completion = client.chat.completions.create(model=MODEL, **kwargs)
    assert [c.message.content for c in completion.choices] == [texts[0], texts[1]]


def test_json_mode_keeps_explicit_reply_verbatim(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=_user("[[reply:not json at all]]"),
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].message.content == "not json at all"


def test_text_response_format_still_echoes_plain(
    fake_api: FakeOpenAI, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=_user("plain"), response_format={"type": "text"}, n=2
    )
    assert [c.message.content for c in completion.choices] == ["Echo: plain", "[1] Echo: plain"]


# -- stop sequences ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("END", "alpha beta "),
        (["zzz", "gamma", " beta"], "alpha"),  # earliest occurrence wins, not list order
        (["nowhere"], "alpha beta END gamma delta"),
    ],
)
def test_stop_cuts_text_non_streaming(
    fake_api: FakeOpenAI, client: openai.OpenAI, stop: str | list[str], expected: str
) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=_user("[[reply:alpha beta END gamma delta]]"), stop=stop
    )
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len(expected.split())


@pytest.mark.parametrize(
    ("stop", "expected"),
    [("END", "alpha beta "), (["gamma", " beta"], "alpha")],
)
def test_stop_cuts_text_streaming(
    fake_api: FakeOpenAI, client: openai.OpenAI, stop: str | list[str], expected: str
) -> None:
    usage = None
    text = ""
    finish = None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=_user("[[reply:alpha beta END gamma delta]]"),
        stop=stop,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == expected
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == len(expected.split())


def test_stop_applies_to_every_choice(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"messages": _user("[[reply:one two; three]]"), "stop": ";", "n": 2}
    completion = client.chat.completions.create(model=MODEL, **kwargs)
    assert [c.message.content for c in completion.choices] == ["one two", "[1] one two"]
    texts, _ = _stream_texts(client, **kwargs)
    assert texts == {0: "one two", 1: "[1] one two"}


# -- per-choice finish reasons and fingerprint ------------------------------------


def test_finishes_directive_per_choice(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {
        "messages": _user("[[finishes:length,content_filter]] [[finish:stop]] hi"),
        "n": 3,
    }
    completion = client.chat.completions.create(model=MODEL, **kwargs)
    assert [c.finish_reason for c in completion.choices] == ["length", "content_filter", "stop"]
    _, finishes = _stream_texts(client, **kwargs)
    assert finishes == {0: "length", 1: "content_filter", 2: "stop"}


def test_finish_reasons_field_and_fallback(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    behavior = Behavior(text="x", finish_reason="length", finish_reasons=["stop", ""])
    fake_api.enqueue(behavior, behavior)
    completion = client.chat.completions.create(model=MODEL, messages=_user("hi"), n=3)
    assert [c.finish_reason for c in completion.choices] == ["stop", "length", "length"]
    _, finishes = _stream_texts(client, messages=_user("hi"), n=3)
    assert finishes == {0: "stop", 1: "length", 2: "length"}


def test_fingerprint_directive(fake_api: FakeOpenAI, client: openai.OpenAI) -> None:
    messages = _user("[[fingerprint:fp_custom_42]] hi")
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.system_fingerprint == "fp_custom_42"
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    assert chunks and {c.system_fingerprint for c in chunks} == {"fp_custom_42"}
    plain = client.chat.completions.create(model=MODEL, messages=_user("hi"), seed=7)
    assert plain.system_fingerprint == "fp_fake"


# -- existing stream shape stays as it was ----------------------------------------


def test_stream_interleaves_choices_and_usage_only_on_request(fake_api: FakeOpenAI) -> None:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": _user("[[reply:a b]]"),
        "stream": True,
        "n": 2,
    }
    chunks = _post(fake_api, body)
    order = [(c["choices"][0]["index"], c["choices"][0]["delta"].get("content")) for c in chunks]
    assert order == [
        (0, ""),
        (1, ""),
        (0, "a "),
        (1, "[1] "),
        (0, "b"),
        (1, "a "),
        (1, "b"),
        (0, None),
        (1, None),
    ]
    assert all("usage" not in c for c in chunks)

    chunks = _post(fake_api, {**body, "stream_options": {"include_usage": True}})
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert all("usage" not in c for c in chunks[:-1])
