"""bench/streamlit_floor draws the page bench/chat_latency loads, and its table reads its data;
the browser run itself is for bench/, and its figures are never asserted here."""

from __future__ import annotations

import random

from bench.chat_latency import message_text
from bench.streamlit_floor import PAGE_MESSAGES, PAGE_SEED, page_messages, render_table
from storage import Role


def test_the_bare_page_holds_the_latency_benchs_messages() -> None:
    rng = random.Random(PAGE_SEED)
    expected = [
        message_text(rng, Role.USER if index % 2 == 0 else Role.ASSISTANT, index)
        for index in range(PAGE_MESSAGES)
    ]
    messages = page_messages(code=True)
    assert [text for _role, text in messages] == expected
    assert [role for role, _text in messages[:2]] == ["user", "assistant"]
    assert sum(text.count("```") for _role, text in messages) == 8  # four code blocks


def test_without_code_each_block_becomes_a_list_and_the_prose_stays() -> None:
    with_code = page_messages(code=True)
    without = page_messages(code=False)
    assert len(without) == len(with_code)
    assert not any("```" in text for _role, text in without)
    for (_role, before), (_same, after) in zip(with_code, without, strict=True):
        if "```" not in before:
            assert after == before
        else:
            prose = before.split("```")[0]
            assert after.startswith(prose)
            assert after[len(prose) :].startswith("- ")


def test_the_table_shows_each_variants_medians_beside_the_goals() -> None:
    page = {
        "new_context_ms": [2300.0, 2400.0, 2200.0],
        "warm_reload_ms": [800.0],
        "enter_to_callback_ms": [12.0, 14.0, 10.0],
    }
    plain = {"new_context_ms": [1290.0], "warm_reload_ms": [560.0], "enter_to_callback_ms": [11.0]}
    table = render_table(
        {
            "chromium": "1",
            "health_ms": [900.0, 910.0, 920.0],
            "pages": {"with code": page, "no code": plain},
        }
    )
    lines = table.splitlines()
    assert "910" in lines[2]
    new_context = next(line for line in lines if "new context" in line)
    assert new_context.split()[-3:] == ["2300", "1290", "1,500"]
    enter = next(line for line in lines if "on_submit" in line)
    assert "12" in enter.split() and "11" in enter.split()
