"""A request that always fits: each model's window (table, override, default), whether it
sees images, and leaving out the oldest messages, never the system prompt, the newest turn,
or half of a tool call."""

from __future__ import annotations

from typing import Any

import pytest

from chatcore.context import (
    CONTEXT_OVERFLOW,
    Fit,
    TokenCounter,
    context_window,
    fit_messages,
    parse_overrides,
    reserve_for,
    sees_images,
)
from chatcore.context.tokens import ByteBound
from chatcore.context.windows import MAX_OVERRIDE_TOKENS, MIN_OVERRIDE_TOKENS
from chatcore.errors import ChatInputError, ConfigError, ContextOverflow

COUNTER = TokenCounter()
MODEL = "gpt-4o"
DEFAULT = 32_768

# --- context windows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-2024-08-06", 128_000),
        ("gpt-4o-mini", 128_000),
        ("gpt-4.1-nano", 1_047_576),
        ("gpt-4-turbo-2024-04-09", 128_000),
        ("gpt-4", 8_192),
        ("gpt-4-0613", 8_192),
        ("gpt-3.5-turbo-0125", 16_385),
        ("o1", 200_000),
        ("o3-mini", 200_000),
        ("o4-mini", 200_000),
        ("gpt-5-mini", 400_000),
        ("gpt-5-chat-latest", 128_000),
        ("claude-3-5-sonnet-20241022", 200_000),
        ("claude-sonnet-4-20250514", 200_000),
        ("claude-opus-4-1", 200_000),
        ("gemini-1.5-flash", 1_048_576),
        ("gemini-2.5-pro", 1_048_576),
        ("deepseek-chat", 128_000),
        ("deepseek-reasoner", 128_000),
        ("qwen-max", 32_768),
        ("qwen-plus-latest", 131_072),
        ("qwen-turbo", 1_000_000),
        ("glm-4-plus", 128_000),
        ("moonshot-v1-8k", 8_192),
        ("moonshot-v1-32k", 32_768),
        ("moonshot-v1-128k", 131_072),
        ("kimi-k2-0711-preview", 131_072),
        ("llama-3.1-70b-instruct", 131_072),
        ("llama-3.3-70b-versatile", 131_072),
        ("mistral-large-latest", 131_072),
    ],
)
def test_the_table_knows_common_families_by_longest_prefix(model: str, window: int) -> None:
    assert context_window(model, {}, DEFAULT) == window


def test_a_vendor_prefix_and_the_case_do_not_matter() -> None:
    assert context_window("openai/gpt-4o", {}, DEFAULT) == 128_000
    assert context_window("anthropic/claude-3-haiku", {}, DEFAULT) == 200_000
    assert context_window("meta-llama/Llama-3.3-70B-Instruct", {}, DEFAULT) == 131_072
    assert context_window("GPT-4O-MINI", {}, DEFAULT) == 128_000


def test_an_unknown_model_gets_the_default() -> None:
    assert context_window("our-own-finetune", {}, DEFAULT) == DEFAULT
    assert context_window("", {}, 4_096) == 4_096


def test_an_override_wins_for_that_exact_id_in_any_case() -> None:
    overrides = {"gpt-4o": 64_000, "our-own-finetune": 8_000}
    assert context_window("GPT-4o", overrides, DEFAULT) == 64_000
    assert context_window("gpt-4o-mini", overrides, DEFAULT) == 128_000  # not a prefix match
    assert context_window("Our-Own-Finetune", overrides, DEFAULT) == 8_000
    assert context_window("gpt-4o", {"GPT-4O": 50_000}, DEFAULT) == 50_000


def test_overrides_are_read_from_model_equals_tokens_lines() -> None:
    text = """
    # Our gateway's models
    our-own-finetune = 8192
    GPT-4o=64_000   # kept small on purpose

    deepseek-chat = 65,536
    our-own-finetune = 16384
    """
    assert parse_overrides(text) == {
        "our-own-finetune": 16_384,  # the last line for a model wins
        "gpt-4o": 64_000,
        "deepseek-chat": 65_536,
    }
    assert parse_overrides("") == {}
    assert parse_overrides("# nothing yet\n\n") == {}


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        ("gpt-4o 128000", 1, "context_window_line_unreadable"),
        ("ok = 8192\n= 8192", 2, "context_window_line_unreadable"),
        ("ok = 8192\n\n# comment\ngpt-4o =", 4, "context_window_line_unreadable"),
        ("gpt-4o = 128k", 1, "context_window_out_of_range"),
        ("gpt-4o = -5", 1, "context_window_out_of_range"),
        ("gpt-4o = 12.5", 1, "context_window_out_of_range"),
        ("gpt-4o = 100", 1, "context_window_out_of_range"),
        (f"gpt-4o = {MAX_OVERRIDE_TOKENS + 1}", 1, "context_window_out_of_range"),
        ("a = 8192\nb = ８１９２", 2, "context_window_out_of_range"),
    ],
)
def test_a_bad_line_is_refused_by_its_number(text: str, line: int, code: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides(text)
    assert caught.value.code == code
    assert caught.value.params["line"] == line
    assert f"line {line}:" in str(caught.value)


def test_the_range_is_in_the_sentence() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides("gpt-4o = 10")
    assert caught.value.params["minimum"] == MIN_OVERRIDE_TOKENS
    assert f"{MIN_OVERRIDE_TOKENS:,}" in str(caught.value)


# --- vision ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "chatgpt-4o-latest",
        "gpt-4.1-mini",
        "gpt-4-turbo",
        "gpt-4-turbo-2024-04-09",
        "gpt-4-vision-preview",
        "gpt-5",
        "o1",
        "o1-2024-12-17",
        "o3",
        "o4-mini",
        "claude-3-5-sonnet-latest",
        "claude-3-opus-20240229",
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "gemini-2.0-flash",
        "qwen-vl-max",
        "qwen2.5-vl-72b-instruct",
        "glm-4v-plus",
        "llava-v1.6-34b",
        "llama-3.2-11b-vision-instruct",
        "moonshot-v1-8k-vision-preview",
        "openrouter/openai/gpt-4o",
    ],
)
def test_models_known_to_see_images(model: str) -> None:
    assert sees_images(model) is True


@pytest.mark.parametrize(
    "model",
    [
        "gpt-3.5-turbo",
        "gpt-4",
        "gpt-4-0613",
        "o1-mini",
        "o3-mini",
        "deepseek-chat",
        "deepseek-reasoner",
        "qwen-max",
        "qwen-plus",
        "qwen-turbo",
        "glm-4",
        "glm-4-plus",
        "moonshot-v1-32k",
        "text-embedding-3-large",
        "whisper-1",
        "tts-1-hd",
    ],
)
def test_models_known_not_to_see_images(model: str) -> None:
    assert sees_images(model) is False


@pytest.mark.parametrize("model", ["our-own-finetune", "mixtral-8x7b", "", "yi-large"])
def test_unknown_models_are_not_guessed(model: str) -> None:
    assert sees_images(model) is None


# --- the reply's reserve --------------------------------------------------------------------


def test_the_reserve_is_max_tokens_or_a_capped_quarter_of_the_window() -> None:
    assert reserve_for(1_000, 128_000) == 1_000
    assert reserve_for(None, 128_000) == 4_096
    assert reserve_for(None, 8_192) == 2_048


# --- fitting --------------------------------------------------------------------------------


def say(role: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"role": role, "content": text, **fields}


def call(call_id: str) -> dict[str, Any]:
    function = {"name": "calculator", "arguments": '{"expression": "6*7"}'}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def result(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "42"}


def words(n: int, tag: str) -> str:
    return f"{tag}: " + " ".join(["context"] * n)


def thread(turns: int) -> list[dict[str, Any]]:
    messages = [say("system", "You are terse.")]
    for turn in range(turns):
        messages += [say("user", words(50, f"q{turn}")), say("assistant", words(80, f"a{turn}"))]
    return [*messages, say("user", "And now?")]


def fit_exactly(
    messages: list[dict[str, Any]], kept: list[dict[str, Any]], reserve: int = 500
) -> Fit:
    """Fit `messages` into a window just large enough for `kept` and the reserve."""
    window = COUNTER.count_messages(kept, model=MODEL) + reserve
    return fit_messages(messages, window=window, reserve=reserve, counter=COUNTER, model=MODEL)


def test_nothing_is_left_out_when_the_thread_fits() -> None:
    messages = thread(5)
    fit = fit_messages(messages, window=128_000, reserve=4_096, counter=COUNTER, model=MODEL)
    assert fit.messages == messages
    assert (fit.dropped, fit.start) == (0, 1)
    # Far from full, the bytes alone show it fits: no tokenizer, and a count that is at most.
    assert fit.tokens >= COUNTER.count_messages(messages, model=MODEL)
    assert fit.tokens == ByteBound().count_messages(messages, model=MODEL)
    # Exactly full still fits.
    assert fit_exactly(messages, messages).messages == messages


def test_the_oldest_messages_go_first_and_the_system_prompt_stays() -> None:
    messages = thread(5)
    kept = [messages[0], *messages[5:]]  # turns 0 and 1 left out
    fit = fit_exactly(messages, kept)
    assert fit.messages == kept
    assert (fit.dropped, fit.start) == (4, 5)
    assert fit.tokens == COUNTER.count_messages(kept, model=MODEL)
    # One token less and the next turn goes too.
    window = COUNTER.count_messages(kept, model=MODEL) + 499
    smaller = fit_messages(messages, window=window, reserve=500, counter=COUNTER, model=MODEL)
    assert smaller.messages == [messages[0], *messages[7:]]
    assert smaller.dropped == 6


def test_several_leading_system_and_developer_messages_stay() -> None:
    messages = [say("system", "One."), say("developer", "Two."), *thread(4)[1:]]
    fit = fit_exactly(messages, [*messages[:2], messages[-1]])
    assert fit.messages == [*messages[:2], messages[-1]]
    assert (fit.dropped, fit.start) == (8, 10)


def test_without_a_system_prompt_history_is_dropped_all_the_same() -> None:
    messages = thread(3)[1:]
    fit = fit_exactly(messages, messages[2:])
    assert fit.messages == messages[2:]
    assert (fit.dropped, fit.start) == (2, 2)


def test_the_newest_turn_stays_with_its_tool_calls_and_results() -> None:
    history = thread(3)[:-1]
    newest = [say("user", "Compute it."), call("c1"), result("c1"), call("c2"), result("c2")]
    messages = [*history, *newest]
    fit = fit_exactly(messages, [history[0], *newest])
    assert fit.messages == [history[0], *newest]
    assert fit.dropped == len(history) - 1


def test_a_tool_call_goes_with_its_results() -> None:
    messages = [
        say("system", "You are terse."),
        say("user", words(40, "q0")),
        call("c1"),
        result("c1"),
        result("c1b"),
        say("assistant", words(40, "a0")),
        say("user", words(40, "q1")),
        say("assistant", words(40, "a1")),
        say("user", "Last."),
    ]
    # Room for everything but the first question: the kept history would start with the tool
    # call, whose question is gone, so it is left out with its results and the answer.
    fit = fit_exactly(messages, [messages[0], *messages[2:]])
    assert fit.messages == [messages[0], *messages[6:]]
    assert fit.dropped == 5
    for sent in (fit.messages, fit_exactly(messages, [messages[0], *messages[4:]]).messages):
        roles = [message["role"] for message in sent]
        assert "tool" not in roles or roles[roles.index("tool") - 1] in ("assistant", "tool")
        assert roles[1] == "user"


def test_a_call_is_never_kept_without_its_results_nor_results_without_their_call() -> None:
    messages = [
        say("system", "You are terse."),
        say("user", "Compute."),
        call("c1"),
        result("c1"),
        say("user", words(30, "q1")),
        say("assistant", words(30, "a1")),
        say("user", "Last."),
    ]
    for size in range(len(messages)):
        window = COUNTER.count_messages([messages[0], *messages[size:]], model=MODEL) + 100
        fit = fit_messages(messages, window=window, reserve=100, counter=COUNTER, model=MODEL)
        sent = fit.messages
        calls = [m for m in sent if m.get("tool_calls")]
        results = [m for m in sent if m["role"] == "tool"]
        assert len(calls) == len(results)
        assert sent[1]["role"] == "user"


def test_the_kept_history_never_starts_with_a_tool_result() -> None:
    # A thread whose stored history starts mid-call (an orphaned result): never sent first.
    messages = [say("system", "s"), result("lost"), say("user", "Hi."), say("assistant", "Yo.")]
    messages.append(say("user", "Last."))
    fit = fit_messages(messages, window=128_000, reserve=1_000, counter=COUNTER, model=MODEL)
    assert fit.messages == [messages[0], *messages[2:]]
    assert fit.dropped == 1


def test_an_assistant_opening_is_kept_when_nothing_else_is_left_out() -> None:
    messages = [say("assistant", "Hello! Ask me anything."), say("user", "Hi.")]
    fit = fit_messages(messages, window=128_000, reserve=1_000, counter=COUNTER, model=MODEL)
    assert fit.messages == messages
    assert fit.dropped == 0


def test_a_thread_without_a_question_keeps_its_last_message() -> None:
    messages = [say("system", "s"), say("assistant", words(30, "a")), call("c"), result("c")]
    fit = fit_exactly(messages, [messages[0], *messages[2:]])
    assert fit.messages == [messages[0], *messages[2:]]
    assert fit_messages([], window=100, reserve=10, counter=COUNTER, model=MODEL).messages == []


def test_images_count_towards_the_window() -> None:
    image = {
        "type": "image_url",
        "image_url": {"url": f"anychat-attachment:{'0' * 64}/2048x4096/image/png"},
    }
    question = {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}
    messages = [*thread(2), question]
    fit = fit_exactly(messages, [messages[0], question])
    assert fit.messages == [messages[0], question]
    assert fit.tokens > 1_105


def test_other_vendors_count_with_the_margin() -> None:
    messages = thread(3)
    exact = fit_messages(messages, window=128_000, reserve=0, counter=COUNTER, model=MODEL)
    other = fit_messages(
        messages, window=128_000, reserve=0, counter=COUNTER, model="deepseek-chat"
    )
    assert other.tokens > exact.tokens


def test_too_long_even_alone_is_refused_with_the_numbers() -> None:
    messages = [say("system", "You are terse."), *thread(2)[1:-1], say("user", words(500, "q"))]
    minimum = COUNTER.count_messages([messages[0], messages[-1]], model=MODEL)
    with pytest.raises(ContextOverflow) as caught:
        fit_messages(messages, window=minimum + 999, reserve=1_000, counter=COUNTER, model=MODEL)
    error = caught.value
    assert isinstance(error, ChatInputError)
    assert error.code == "context_overflow"
    assert error.template == CONTEXT_OVERFLOW
    assert error.params == {
        "needed": minimum + 1_000,
        "reserve": 1_000,
        "model": MODEL,
        "window": minimum + 999,
    }
    assert str(error).startswith(f"This request needs {minimum + 1_000:,} tokens")
    # One token more and it fits, with everything older left out.
    fit = fit_messages(
        messages, window=minimum + 1_000, reserve=1_000, counter=COUNTER, model=MODEL
    )
    assert fit.messages == [messages[0], messages[-1]]


def test_a_max_tokens_larger_than_the_window_is_refused() -> None:
    with pytest.raises(ContextOverflow):
        fit_messages(
            [say("user", "Hi.")],
            window=8_192,
            reserve=reserve_for(10_000, 8_192),
            counter=COUNTER,
            model="gpt-4",
        )


def test_a_long_thread_is_counted_once_per_message() -> None:
    messages = thread(2_500)

    class Counting(TokenCounter):
        calls = 0

        def count_message(self, message: Any, *, model: str = "") -> int:
            Counting.calls += 1
            return super().count_message(message, model=model)

    fit = fit_messages(messages, window=32_768, reserve=4_096, counter=Counting(), model=MODEL)
    assert fit.dropped > 4_000
    assert Counting.calls <= len(fit.messages) + 2  # what fits, and the one that did not


def test_bytes_bound_every_count() -> None:
    """The shortcut is safe only if no text has more tokens than UTF-8 bytes."""
    texts = [
        "hello world",
        "你好，世界。量子纠缠",
        "😀🎉 emoji",
        "a" * 5000,
        "\u0301" * 50,
        "x y\nz\t",
    ]
    bound = ByteBound()
    for text in texts:
        for model in (MODEL, "gpt-4", "claude-sonnet-4", "unknown-model"):
            assert bound.count_text(text, model=model) >= COUNTER.count_text(text, model=model)


class _Counting(TokenCounter):
    """Counts the messages it is asked to count."""

    def __init__(self) -> None:
        self.counted: list[dict[str, Any]] = []

    def count_message(self, message: Any, *, model: str = "") -> int:
        self.counted.append(message)
        return super().count_message(message, model=model)


def test_the_upstreams_count_stands_for_the_thread_it_covers() -> None:
    messages = thread(400)  # too many bytes for the bytes bound in a 128k window
    assert ByteBound().count_messages(messages, model=MODEL) + 4_096 > 128_000
    last_reply = len(messages) - 2
    counter = _Counting()
    fit = fit_messages(
        messages,
        window=128_000,
        reserve=4_096,
        counter=counter,
        model=MODEL,
        counted=(last_reply, 50_000),
    )
    assert fit.messages == messages and fit.dropped == 0
    # Only the system prompt (it may have changed) and the new question were tokenized.
    assert counter.counted == [messages[0], messages[-1]]
    assert fit.tokens >= 50_000 + 50_000 // 20


def test_an_upstream_count_that_leaves_no_room_is_not_trusted_to_drop_anything() -> None:
    messages = thread(400)
    counter = _Counting()
    plain = fit_messages(messages, window=20_000, reserve=4_096, counter=COUNTER, model=MODEL)
    hinted = fit_messages(
        messages,
        window=20_000,
        reserve=4_096,
        counter=counter,
        model=MODEL,
        counted=(len(messages) - 2, 60_000),
    )
    assert hinted == plain  # the messages are counted one by one, as without it
    assert plain.dropped > 0
