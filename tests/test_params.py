"""Sampling parameters: validated, and only what the user set is sent."""

from __future__ import annotations

import pytest

from chatcore.params import GenerationParams, InvalidParameter


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
