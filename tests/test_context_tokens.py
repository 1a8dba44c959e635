"""Counting a request's tokens offline: exact o200k/cl100k counts for OpenAI's models, a
margin for the others, OpenAI's image formula, and the estimate when the tokenizer is missing."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import threading
import warnings
from collections import OrderedDict
from typing import Any

import pytest
from PIL import Image

from chatcore.context import tokens
from chatcore.context.tokens import (
    REPLY_PRIMING,
    SAFETY_MARGIN,
    UNKNOWN_IMAGE_TOKENS,
    TokenCounter,
    counts_exactly,
    data_url_size,
    estimate_tokens,
    image_tokens,
    placeholder_size,
    warm_up,
)

COUNTER = TokenCounter()
with warnings.catch_warnings():  # bpe_openai 0.1.4 uses a deprecated importlib.resources call
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

    O200K = bpe_openai.get_encoding("o200k_base")
    CL100K = bpe_openai.get_encoding("cl100k_base")
SHA = "ab" * 32

ENGLISH = "The quick brown fox jumps over the lazy dog, then reads the whole manual twice."
CHINESE = "上下文窗口决定了模型一次能读多少内容；超过以后，最早的消息会被省略。"
MIXED = "请把这段 Python 代码改成异步的：def fetch(url): return requests.get(url).text"


def placeholder(width: int, height: int, media_type: str = "image/png") -> str:
    return f"anychat-attachment:{SHA}/{width}x{height}/{media_type}"


def data_url(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def with_margin(count: int) -> int:
    return math.ceil(count * (1 + SAFETY_MARGIN))


# --- text ---------------------------------------------------------------------------------


def test_known_o200k_counts() -> None:
    assert counts_exactly("gpt-4o")
    assert COUNTER.count_text("hello world", model="gpt-4o") == 2
    assert COUNTER.count_text("你好，世界", model="gpt-4o") == 3
    assert COUNTER.count_text("", model="gpt-4o") == 0
    # No model given: o200k's counts as they are.
    assert counts_exactly("")
    assert COUNTER.count_text("hello world") == 2


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, MIXED])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini-2024-07-18", "openai/gpt-4.1", "o3"])
def test_openai_models_count_exactly_with_o200k(model: str, text: str) -> None:
    assert COUNTER.count_text(text, model=model) == len(O200K.encode(text))


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo"])
def test_older_openai_models_count_with_cl100k(model: str) -> None:
    assert counts_exactly(model)
    assert COUNTER.count_text(CHINESE, model=model) == len(CL100K.encode(CHINESE))
    assert len(CL100K.encode(CHINESE)) != len(O200K.encode(CHINESE))  # the encodings differ


@pytest.mark.parametrize("model", ["deepseek-chat", "claude-sonnet-4-5", "qwen-max", "mystery"])
def test_other_vendors_get_the_safety_margin(model: str) -> None:
    assert not counts_exactly(model)
    for text in (ENGLISH, CHINESE):
        assert COUNTER.count_text(text, model=model) == with_margin(len(O200K.encode(text)))


def test_special_token_text_is_counted_as_text() -> None:
    text = "<|endoftext|> is just text here"
    assert COUNTER.count_text(text, model="gpt-4o") == len(O200K.encode_ordinary(text))


def test_text_beyond_the_tokenizers_limits_is_counted() -> None:
    # bpe_openai refuses a million characters at once; the counter cuts the text up.
    long_english = ENGLISH * 15_000  # 1.2 million characters
    exact = len(O200K.encode_ordinary(ENGLISH * 1_000)) * 15
    assert COUNTER.count_text(long_english, model="gpt-4o") == pytest.approx(exact, rel=0.001)
    long_chinese = CHINESE * 2_000  # no spaces to cut at
    exact = len(O200K.encode_ordinary(CHINESE * 100)) * 20
    assert COUNTER.count_text(long_chinese, model="gpt-4o") == pytest.approx(exact, rel=0.001)


def test_warm_up_loads_once_from_any_thread() -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: (warm_up(), results.append(count_hello())))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [2, 2, 2, 2]
    assert tokens._encoders[tokens.O200K] is not None


def count_hello() -> int:
    return COUNTER.count_text("hello world", model="gpt-4o")


# --- the estimate when the tokenizer cannot load --------------------------------------------


def test_the_estimate_counts_cjk_per_character_and_other_text_per_four() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world") == 3  # 11 characters / 4, rounded up
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("hi 你好") == 3  # 2 CJK + 3 others / 4 rounded up
    assert estimate_tokens("こんにちは、안녕하세요") == 11


def test_without_the_tokenizer_counts_are_estimates_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tokens, "_TOKENIZER_PACKAGE", "no_such_tokenizer_package")
    monkeypatch.setattr(tokens, "_encoders", {})
    monkeypatch.setattr(tokens, "_cache", OrderedDict())
    monkeypatch.setattr(tokens, "_fallback_logged", False)
    caplog.set_level(logging.WARNING, logger=tokens.__name__)

    warm_up()
    assert COUNTER.count_text(CHINESE, model="gpt-4o") == estimate_tokens(CHINESE)
    assert COUNTER.count_text(ENGLISH, model="gpt-4") == estimate_tokens(ENGLISH)
    assert COUNTER.count_text(ENGLISH, model="glm-4") == with_margin(estimate_tokens(ENGLISH))
    warnings = [record for record in caplog.records if "tokenizer" in record.getMessage()]
    assert len(warnings) == 1


# --- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (512, 512, 255),  # one tile; small images are not scaled up
        (100, 80, 255),
        (1024, 1024, 765),  # OpenAI's example: to 768x768, four tiles
        (2048, 4096, 1105),  # OpenAI's example: to 1024x2048, then 768x1536, six tiles
        (4000, 3000, 765),  # to 2048x1536, then 1024x768
        (600, 400, 425),  # two tiles across, one down
        (768, 2048, 1445),  # already within 2048, shortest side 768: eight tiles
    ],
)
def test_image_tokens_follow_openais_high_detail_formula(
    width: int, height: int, expected: int
) -> None:
    assert image_tokens(width, height) == expected
    assert image_tokens(width, height, detail="auto") == expected
    assert image_tokens(width, height, detail="low") == 85


def test_image_sizes_come_from_the_placeholder_or_the_data_url() -> None:
    assert placeholder_size(placeholder(1024, 768, "image/jpeg")) == (1024, 768)
    assert placeholder_size(f"anychat-attachment:{SHA}/1024/image/png") is None
    assert placeholder_size("anychat-attachment:nothex/10x10/image/png") is None
    assert data_url_size(data_url(600, 400)) == (600, 400)
    assert data_url_size("data:image/png;base64,bm90IGFuIGltYWdl") is None
    assert data_url_size("https://example.com/cat.png") is None


def test_image_parts_count_by_their_size() -> None:
    part = {"type": "image_url", "image_url": {"url": placeholder(1024, 1024)}}
    assert COUNTER.count_content([part]) == 765
    low = {"type": "image_url", "image_url": {"url": placeholder(1024, 1024), "detail": "low"}}
    assert COUNTER.count_content([low]) == 85
    unknown = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert COUNTER.count_content([unknown]) == UNKNOWN_IMAGE_TOKENS
    assert COUNTER.count_content([part], model="claude-3-5-sonnet") == with_margin(765)


def test_data_url_images_count_like_their_placeholder() -> None:
    from_bytes = [{"type": "image_url", "image_url": {"url": data_url(600, 400)}}]
    from_placeholder = [{"type": "image_url", "image_url": {"url": placeholder(600, 400)}}]
    assert COUNTER.count_content(from_bytes) == COUNTER.count_content(from_placeholder) == 425


# --- messages -------------------------------------------------------------------------------


def o200k(text: str) -> int:
    return len(O200K.encode(text))


def test_a_message_costs_its_overhead_role_and_content() -> None:
    message = {"role": "user", "content": "hello world"}
    assert COUNTER.count_message(message) == 3 + o200k("user") + 2
    assert COUNTER.count_messages([message]) == 3 + 1 + 2 + REPLY_PRIMING == 9
    assert COUNTER.count_messages([]) == REPLY_PRIMING


def test_a_name_costs_one_token_more_than_its_text() -> None:
    plain = {"role": "user", "content": ENGLISH}
    named = {"role": "user", "content": ENGLISH, "name": "alice"}
    assert COUNTER.count_message(named) == COUNTER.count_message(plain) + o200k("alice") + 1


def test_content_parts_count_their_texts_and_images() -> None:
    message: dict[str, Any] = {
        "role": "user",
        "content": [
            {"type": "text", "text": CHINESE},
            {"type": "image_url", "image_url": {"url": placeholder(2048, 4096)}},
            {"type": "text", "text": "report.pdf\n" + ENGLISH},
        ],
    }
    expected = 3 + o200k("user") + o200k(CHINESE) + 1105 + o200k("report.pdf\n" + ENGLISH)
    assert COUNTER.count_message(message) == expected


def test_tool_calls_count_as_their_json_and_results_as_text() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
        }
    ]
    call = {"role": "assistant", "content": None, "tool_calls": calls}
    as_json = json.dumps(calls, ensure_ascii=False, separators=(",", ":"))
    assert COUNTER.count_message(call) == 3 + o200k("assistant") + o200k(as_json)
    result = {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    assert COUNTER.count_message(result) == 3 + o200k("tool") + o200k("call_1") + o200k("42")


def test_counts_repeat_exactly_from_the_cache() -> None:
    long_text = CHINESE * 50
    first = COUNTER.count_text(long_text)
    assert COUNTER.count_text("".join(long_text)) == first == o200k(long_text)
    assert COUNTER.count_text(long_text, model="gpt-4") == len(CL100K.encode(long_text))
