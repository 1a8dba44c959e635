"""Sampling parameters: validated, and only what the user set is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatcore.chat.params import (
    GenerationParams,
    format_stop,
    parse_logit_bias,
    parse_seed,
    parse_stop,
)
from chatcore.errors import InvalidParameter


def test_defaults_send_nothing_optional() -> None:
    assert GenerationParams(model="gpt-4o").request_fields() == {}


def test_set_values_are_sent_exactly() -> None:
    params = GenerationParams(model="m", temperature=0.0, top_p=0.35, max_tokens=77)
    assert params.request_fields() == {"temperature": 0.0, "top_p": 0.35, "max_tokens": 77}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.01),
        ("temperature", -0.1),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("max_tokens", True),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    params = GenerationParams(model="m", **{field: value})
    with pytest.raises(InvalidParameter) as caught:
        params.validate()
    assert caught.value.field == field


def test_empty_model_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Choose a model"):
        GenerationParams(model="  ").validate()


def test_settings_round_trip() -> None:
    params = GenerationParams(model="m", system_prompt="be brief", temperature=0.7, stream=False)
    assert GenerationParams.from_settings(params.to_settings(), "other") == params


def test_stored_settings_that_no_longer_validate_fall_back_safely() -> None:
    restored = GenerationParams.from_settings(
        {"model": "m", "temperature": 9, "unknown": 1, "system_prompt": "hi"}, "default"
    )
    assert restored == GenerationParams(model="m", system_prompt="hi")
    assert GenerationParams.from_settings({}, "default").model == "default"


# Ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 0),
        ("n", 9),
        ("n", 2.5),
        ("n", True),
        ("presence_penalty", -2.01),
        ("presence_penalty", 2.01),
        ("frequency_penalty", -2.01),
        ("frequency_penalty", 2.01),
        ("seed", 2**63),
        ("seed", -(2**63) - 1),
        ("seed", 1.5),
    ],
)
def test_more_out_of_range_values_are_refused(field: str, value: object) -> None:
    params = GenerationParams(model="m", **{field: value})
    with pytest.raises(InvalidParameter) as caught:
        params.validate()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 1),
        ("n", 8),
        ("presence_penalty", -2),
        ("presence_penalty", 2),
        ("frequency_penalty", -2.0),
        ("frequency_penalty", 2.0),
        ("seed", 0),
        ("seed", -7),
        ("seed", -(2**63)),
        ("seed", 2**63 - 1),
    ],
)
def test_boundary_values_are_accepted(field: str, value: object) -> None:
    params = GenerationParams(model="m", **{field: value})
    params.validate()
    assert params.request_fields() == {field: value}


# Stop sequences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("END", ("END",)),
        ("END\n###\nObservation:", ("END", "###", "Observation:")),
        ("END\n\n   \n", ("END",)),
        (r"a\nb", ("a\nb",)),
        (r"\tindent", ("\tindent",)),
        (r"back\\slash", ("back\\slash",)),
        (r"\\n", ("\\n",)),
        (r"odd\x", ("odd\\x",)),
        ("中文\n終わり", ("中文", "終わり")),
    ],
)
def test_parse_stop(text: str, expected: tuple[str, ...]) -> None:
    assert parse_stop(text) == expected


def test_parse_stop_refuses_more_than_four_sequences() -> None:
    with pytest.raises(InvalidParameter, match="4") as caught:
        parse_stop("a\nb\nc\nd\ne")
    assert caught.value.field == "stop"
    assert parse_stop("a\nb\nc\nd") == ("a", "b", "c", "d")


def test_parse_stop_refuses_an_empty_line_between_sequences() -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_stop("END\n\n###")
    assert caught.value.field == "stop"
    assert str(caught.value) == "Stop sequence 2 is empty."


@pytest.mark.parametrize(
    "stop",
    [
        ("\n",),
        ("\n\nUser:", "\t"),
        ("back\\slash", "\\n is not a newline", "\\\n\t\\t"),
        ("trailing\\",),
        ("a", "b", "c", "d"),
    ],
)
def test_format_stop_round_trips_through_parse_stop(stop: tuple[str, ...]) -> None:
    text = format_stop(stop)
    assert "\t" not in text
    assert text.count("\n") == len(stop) - 1
    assert parse_stop(text) == stop


# Logit bias --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n"])
def test_blank_logit_bias_is_not_sent(text: str) -> None:
    assert parse_logit_bias(text) is None


def test_parse_logit_bias_accepts_an_object_of_whole_numbers() -> None:
    parsed = parse_logit_bias('{"1734": -100, "42": 100, "7": 0}')
    assert parsed == {"1734": -100, "42": 100, "7": 0}


def test_parse_logit_bias_accepts_integral_floats_as_ints() -> None:
    parsed = parse_logit_bias('{"42": 5.0, "43": -100.0}')
    assert parsed == {"42": 5, "43": -100}
    assert parsed is not None and all(type(value) is int for value in parsed.values())


def test_parse_logit_bias_reports_where_the_json_breaks() -> None:
    with pytest.raises(InvalidParameter, match=r"line 2, column \d+") as caught:
        parse_logit_bias('{"42": 5,\n  "43": }')
    assert caught.value.field == "logit_bias"


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        '"1734"',
        "5",
        '{"abc": 1}',
        '{"-1": 1}',
        '{"": 1}',
        '{"1.5": 1}',
        '{"1": 101}',
        '{"1": -101}',
        '{"1": 1.5}',
        '{"1": "5"}',
        '{"1": true}',
        '{"1": null}',
        '{"1": NaN}',
    ],
)
def test_parse_logit_bias_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_logit_bias(text)
    assert caught.value.field == "logit_bias"


# Seed --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("   ", None), (" 42 ", 42), ("-7", -7), (str(2**63 - 1), 2**63 - 1)],
)
def test_parse_seed(text: str, expected: int | None) -> None:
    assert parse_seed(text) == expected


@pytest.mark.parametrize("text", ["4.2", "abc", "4e2", str(2**63)])
def test_parse_seed_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_seed(text)
    assert caught.value.field == "seed"


# Tools -------------------------------------------------------------------------------------

LOOKUP: dict[str, Any] = {
    "name": "lookup",
    "description": "Find an order by its number.",
    "parameters": {
        "type": "object",
        "properties": {"order": {"type": "string"}},
        "required": ["order"],
    },
}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {
                "builtin_tools": ("calculator",),
                "tools": ({"name": "calculator", "description": "mine"},),
            },
            "tools",
        ),
        ({"tools": (LOOKUP,), "tool_choice": "function:missing"}, "tool_choice"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": "sometimes", "tools": (LOOKUP,)}, "tool_choice"),
        ({"builtin_tools": ("weather",)}, "builtin_tools"),
    ],
)
def test_invalid_tool_settings_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        GenerationParams(model="m", **changes).validate()
    assert caught.value.field == field


def test_tool_choice_none_needs_no_tools() -> None:
    params = GenerationParams(model="m", tool_choice="none")
    params.validate()
    assert params.request_fields() == {"tool_choice": "none"}


def test_named_tool_choice_is_sent_as_an_object() -> None:
    params = GenerationParams(
        model="m", tools=(LOOKUP,), builtin_tools=("calculator",), tool_choice="function:lookup"
    )
    params.validate()
    fields = params.request_fields()
    assert fields["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert [tool["function"]["name"] for tool in fields["tools"]] == ["calculator", "lookup"]


# Request fields and stored settings --------------------------------------------------------


def _everything_set() -> GenerationParams:
    return GenerationParams(
        model="gpt-4o",
        system_prompt="用中文回答。",
        temperature=0.7,
        top_p=0.9,
        max_tokens=256,
        stream=False,
        n=3,
        stop=("END", "\n\nUser:"),
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"1734": -100, "42": 5},
        seed=1234,
        json_mode=True,
        tools=(LOOKUP,),
        builtin_tools=("calculator", "current_time"),
        tool_choice="function:lookup",
    )


def test_request_fields_follow_the_spec_order() -> None:
    params = _everything_set()
    params.validate()
    fields = params.request_fields()
    assert list(fields) == [
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "response_format",
        "seed",
        "tools",
        "tool_choice",
    ]
    assert fields["stop"] == ["END", "\n\nUser:"]
    assert fields["response_format"] == {"type": "json_object"}
    assert fields["logit_bias"] == {"1734": -100, "42": 5}
    assert fields["n"] == 3


def test_every_field_survives_a_settings_round_trip() -> None:
    params = _everything_set()
    # Settings are stored as JSON, so they come back with lists instead of tuples.
    stored = json.loads(json.dumps(params.to_settings(), ensure_ascii=False))
    assert stored["stop"] == ["END", "\n\nUser:"]
    restored = GenerationParams.from_settings(stored, "other")
    assert restored == params
    assert isinstance(restored.stop, tuple)
    assert isinstance(restored.tools, tuple)
    assert isinstance(restored.builtin_tools, tuple)


@pytest.mark.parametrize(
    "invalid",
    [{"n": 50}, {"seed": 1.5}, {"stop": ["a", ""]}, {"logit_bias": {"1": 500}}],
)
def test_invalid_stored_settings_keep_only_model_and_prompt(invalid: dict[str, Any]) -> None:
    stored = {**_everything_set().to_settings(), **invalid}
    restored = GenerationParams.from_settings(stored, "other")
    assert restored == GenerationParams(model="gpt-4o", system_prompt="用中文回答。")


@pytest.mark.parametrize(
    "malformed",
    [
        {"model": None},
        {"tool_choice": 5},
        {"tools": [{"description": "no name"}]},
        {"logit_bias": [1734, -100]},
        {"stop": "END"},
    ],
    ids=["model-null", "tool_choice-int", "tool-without-name", "logit_bias-list", "stop-string"],
)
def test_malformed_stored_settings_never_stop_a_conversation_opening(
    malformed: dict[str, Any],
) -> None:
    """from_settings promises that stored settings never stop a conversation opening."""
    restored = GenerationParams.from_settings({"system_prompt": "hi", **malformed}, "default")
    restored.validate()
    assert isinstance(restored.model, str) and restored.model
    assert isinstance(restored.stop, tuple)
    assert restored.request_fields().get("stop") in (None, ["END"])
