"""Blanks in a prompt: found once each, filled literally, and never sent unfilled."""

from __future__ import annotations

import pytest

from chatcore.chat.blanks import blanks, fill
from chatcore.chat.params import GenerationParams
from chatcore.errors import ChatInputError, InvalidParameter


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("no blanks here", []),
        ("Translate into {{language}}.", ["language"]),
        ("{{ language }} and {{language}} and {{\tlanguage\u3000}}", ["language"]),
        ("把下文译成{{语言}}，语气{{ 语气 }}。", ["语言", "语气"]),
        ("{{b}} {{a}} {{b}} {{c_2}}", ["b", "a", "c_2"]),
        ("{{größe}} {{x1}}", ["größe", "x1"]),
        # Not names: these are sent as written.
        ("{{}} {{ }} {{a.b}} {{a b}} {{a-b}} {a} {{\nname\n}}", []),
        (r"\{{literal}} but {{real}}", ["real"]),
    ],
)
def test_blanks_are_named_once_in_order(text: str, names: list[str]) -> None:
    assert blanks(text) == names


def test_fill_replaces_every_occurrence() -> None:
    text = "Say {{word}} in {{ lang }}, then {{word}} again."
    assert fill(text, {"word": "hello", "lang": "中文"}) == "Say hello in 中文, then hello again."


def test_a_value_goes_in_literally_and_is_not_read_again() -> None:
    values = {"a": "{{b}}", "b": "x", "c": r"\1 $0 {0}"}
    assert fill("{{a}}/{{b}}/{{c}}", values) == r"{{b}}/x/\1 $0 {0}"


def test_an_escaped_blank_stays_as_written() -> None:
    text = r"Write \{{name}} for a template; your name is {{name}}."
    assert fill(text, {"name": "Li"}) == r"Write \{{name}} for a template; your name is Li."
    assert fill(r"only \{{x}}", {}) == r"only \{{x}}"


def test_text_without_blanks_needs_no_values() -> None:
    assert fill("plain {text}", {}) == "plain {text}"


@pytest.mark.parametrize("values", [{}, {"lang": ""}, {"lang": "  "}])
def test_a_missing_value_is_refused_by_name(values: dict[str, str]) -> None:
    with pytest.raises(ChatInputError) as caught:
        fill("{{word}} in {{lang}}", {"word": "hi", **values})
    assert caught.value.code == "prompt_blank_empty"
    assert caught.value.params == {"name": "lang"}
    assert str(caught.value) == "Fill in “lang” before using this prompt."


def test_a_system_prompt_with_blanks_is_not_sent() -> None:
    params = GenerationParams(model="m", system_prompt="Use {{语言}} and {{tone}}; {{语言}}.")
    with pytest.raises(InvalidParameter) as caught:
        params.validate()
    error = caught.value
    assert (error.field, error.code) == ("system_prompt", "system_prompt_blanks")
    assert error.params["names"] == "语言, tone"
    assert str(error) == "The system prompt still has blanks to fill: 语言, tone."


def test_settings_that_are_kept_may_hold_blanks() -> None:
    params = GenerationParams(model="m", system_prompt="Into {{language}}.", temperature=0.3)
    params.validate(blanks_allowed=True)
    # A preset (or conversation) with blanks reopens with all its settings.
    assert GenerationParams.from_settings(params.to_settings(), "other") == params
    GenerationParams(model="m", system_prompt=r"\{{literal}}").validate()
    GenerationParams(model="m", system_prompt="Into French.").validate()


def test_other_refusals_still_come_first_when_blanks_are_allowed() -> None:
    with pytest.raises(InvalidParameter) as caught:
        GenerationParams(model="m", system_prompt="{{x}}", top_p=3.0).validate(blanks_allowed=True)
    assert caught.value.field == "top_p"
