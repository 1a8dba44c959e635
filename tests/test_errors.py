"""The error tree: one root, one code per sentence, and the values a sentence shows as params.

The codes are what a translation layer will key on, so the table below is the contract: a code
renamed, reused for another sentence, or added without an entry here fails this test. The
raises are read from the source, so no sentence can be missed.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import chatcore.errors as errors
from chatcore.chat.catalog import ModelList
from chatcore.chat.params import GenerationParams, parse_logit_bias, parse_stop
from chatcore.chat.use_cases import ChatService
from chatcore.config import load_settings
from chatcore.errors import (
    AccountDisabled,
    AccountError,
    AnyChatError,
    CalculatorError,
    ChatInputError,
    ConfigError,
    ConversationNotFound,
    InvalidParameter,
    JsonModeUnmentioned,
    KeyUnreadable,
    MissingApiKey,
    ModelNotOffered,
    PresetNotFound,
    QuotaExceeded,
    StreamTruncated,
    UserError,
)
from chatcore.team.accounts import check_password
from chatcore.team.usage import check_quota
from chatcore.tools.builtin import run_builtin

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("chatcore", "ui", "web")

# Classes raised with several sentences: every raise names its code.
FAMILIES = (ChatInputError, AccountError, InvalidParameter, ConfigError)
# Classes whose constructor writes the sentence itself.
SENTENCE_IN_CLASS = (ModelNotOffered, StreamTruncated)

CODES: dict[str, type[AnyChatError]] = {
    # Sending
    "message_empty": ChatInputError,
    "message_too_long": ChatInputError,
    "tool_call_answered": ChatInputError,
    "tool_result_too_long": ChatInputError,
    "not_a_builtin_tool": ChatInputError,
    "json_mode_unmentioned": JsonModeUnmentioned,
    "quota_exceeded": QuotaExceeded,
    "account_disabled": AccountDisabled,
    "missing_api_key": MissingApiKey,
    "api_key_not_configured": MissingApiKey,
    "conversation_not_found": ConversationNotFound,
    "share_not_found": ConversationNotFound,
    "preset_not_found": PresetNotFound,
    "model_not_offered": ModelNotOffered,
    # Request settings
    "model_missing": InvalidParameter,
    "too_many_stop_sequences": InvalidParameter,
    "empty_stop_sequence": InvalidParameter,
    "too_many_logit_biases": InvalidParameter,
    "not_a_token_id": InvalidParameter,
    "bias_not_whole": InvalidParameter,
    "bias_out_of_range": InvalidParameter,
    "logit_bias_not_json": InvalidParameter,
    "logit_bias_not_object": InvalidParameter,
    "seed_not_whole": InvalidParameter,
    "not_a_whole_number": InvalidParameter,
    "whole_number_out_of_range": InvalidParameter,
    "number_out_of_range": InvalidParameter,
    "preset_name_missing": InvalidParameter,
    "preset_name_too_long": InvalidParameter,
    "function_name_missing": InvalidParameter,
    "function_name_invalid": InvalidParameter,
    "function_description_too_long": InvalidParameter,
    "function_parameters_not_json": InvalidParameter,
    "function_parameters_unreadable": InvalidParameter,
    "function_parameters_not_object": InvalidParameter,
    "function_parameters_not_object_type": InvalidParameter,
    "function_schema_uri": InvalidParameter,
    "function_schema_invalid": InvalidParameter,
    "function_required_unknown": InvalidParameter,
    "too_many_tools": InvalidParameter,
    "tool_names_repeated": InvalidParameter,
    "tool_choice_unnamed": InvalidParameter,
    "tool_choice_unknown_function": InvalidParameter,
    "tool_choice_invalid": InvalidParameter,
    "tool_choice_without_tools": InvalidParameter,
    "unknown_builtin_tool": InvalidParameter,
    # Accounts
    "password_too_short": AccountError,
    "password_too_long": AccountError,
    "passwords_differ": AccountError,
    "username_length": AccountError,
    "username_characters": AccountError,
    "username_taken": AccountError,
    "wrong_setup_code": AccountError,
    "already_set_up": AccountError,
    "unknown_sign_in_source": AccountError,
    "no_free_username": AccountError,
    "account_gone": AccountError,
    "no_local_password": AccountError,
    "too_many_attempts": AccountError,
    "wrong_current_password": AccountError,
    "admins_only": AccountError,
    "no_such_user": AccountError,
    "unknown_role": AccountError,
    "signs_in_elsewhere": AccountError,
    "last_admin": AccountError,
    "disable_self": AccountError,
    "quota_not_whole": AccountError,
    "quota_period_missing": AccountError,
    "api_key_empty": AccountError,
    "api_key_too_long": AccountError,
    "api_key_malformed": AccountError,
    # The operator's settings
    "secrets_not_toml": ConfigError,
    "not_a_number": ConfigError,
    "below_minimum": ConfigError,
    "unknown_auth_mode": ConfigError,
    "not_a_network": ConfigError,
    "admin_setting_invalid": ConfigError,
    "secret_file_empty": ConfigError,
    "key_unreadable": KeyUnreadable,
    # Never shown to a person as such
    "calculator_refused": CalculatorError,
    "stream_truncated": StreamTruncated,
}


def tree_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]


@pytest.mark.parametrize(
    "cls",
    [
        ChatInputError,
        JsonModeUnmentioned,
        ConversationNotFound,
        QuotaExceeded,
        AccountError,
        MissingApiKey,
        KeyUnreadable,
        CalculatorError,
        StreamTruncated,
        *tree_classes(),
    ],
)
def test_every_error_is_under_the_root(cls: type[BaseException]) -> None:
    assert issubclass(cls, AnyChatError)
    assert cls.__module__ == "chatcore.errors"  # one tree, in one place


def test_what_a_person_can_fix_is_a_user_error() -> None:
    for cls in (ChatInputError, AccountError, InvalidParameter, ConversationNotFound):
        assert issubclass(cls, UserError)
    # Admission refusals are still "the message cannot be sent as it is".
    for cls in (QuotaExceeded, AccountDisabled, MissingApiKey, JsonModeUnmentioned):
        assert issubclass(cls, ChatInputError)
    assert issubclass(KeyUnreadable, ConfigError)


def test_a_calculator_refusal_goes_back_to_the_model_as_text() -> None:
    assert issubclass(CalculatorError, ValueError)  # what run_builtin catches
    assert run_builtin("calculator", '{"expression": "1/0"}') == "Error: Division by zero."


def test_a_code_given_at_the_raise_replaces_the_class_code() -> None:
    error = AccountError("No such user.", code="no_such_user")
    assert (error.code, AccountError.code, error.params) == ("no_such_user", "account_error", {})
    assert StreamTruncated().code == "stream_truncated"


# --- every raise in the source -------------------------------------------------------------


def _raises() -> Iterator[tuple[str, type[AnyChatError], ast.Call]]:
    """(where, class, call) for each `raise SomeError(...)` of the tree in the app's code."""
    tree = {cls.__name__: cls for cls in tree_classes()}
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                    continue
                name = node.exc.func
                if isinstance(name, ast.Name) and name.id in tree:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    yield where, cast(type[AnyChatError], tree[name.id]), node.exc


def _code(cls: type[AnyChatError], call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "code":
            assert isinstance(keyword.value, ast.Constant), "a code is a literal"
            return str(keyword.value.value)
    return None


def _sentence(cls: type[AnyChatError], call: ast.Call) -> ast.expr | None:
    if issubclass(cls, SENTENCE_IN_CLASS):
        return None
    return call.args[1 if issubclass(cls, InvalidParameter) else 0]


RAISES = list(_raises())


def test_the_source_raises_errors_of_the_tree() -> None:
    assert len(RAISES) > 80  # the scan found them


@pytest.mark.parametrize(("where", "cls", "call"), RAISES, ids=[r[0] for r in RAISES])
def test_each_raise_has_a_code_from_the_table_and_its_params(
    where: str, cls: type[AnyChatError], call: ast.Call
) -> None:
    code = _code(cls, call)
    if cls in FAMILIES:
        assert code is not None, f"{cls.__name__} is raised with several sentences: name a code"
    code = code or cls.code
    assert code in CODES, f"{code!r} is not in the table"
    assert CODES[code] is cls, f"{code!r} belongs to {CODES[code].__name__}"
    sentence = _sentence(cls, call)
    interpolates = isinstance(sentence, ast.JoinedStr) and any(
        isinstance(part, ast.FormattedValue) for part in sentence.values
    )
    params = [k for k in call.keywords if k.arg != "code"]
    if interpolates and cls is not CalculatorError:
        assert params, f"{where}: the sentence shows values, so they are params too"


def test_one_code_means_one_sentence() -> None:
    sentences: dict[str, set[str]] = defaultdict(set)
    codes: dict[str, set[str]] = defaultdict(set)
    for _, cls, call in RAISES:
        if cls is CalculatorError:  # one code for every refusal: the model reads the text
            continue
        code = _code(cls, call) or cls.code
        sentence = _sentence(cls, call)
        text = cls.__name__ if sentence is None else ast.unparse(sentence)
        sentences[code].add(text)
        codes[text].add(code)
    assert {code: texts for code, texts in sentences.items() if len(texts) > 1} == {}
    assert {text: found for text, found in codes.items() if len(found) > 1} == {}
    assert set(sentences) | {CalculatorError.code} == set(CODES)  # no stale table entries


# --- the numbers a sentence shows are in its params ------------------------------------------


def _catch(raiser: Callable[[], Any]) -> AnyChatError:
    with pytest.raises(AnyChatError) as caught:
        raiser()
    return caught.value


def _chat(max_chars: int) -> ChatService:
    settings = load_settings(env={"ANYCHAT_MAX_MESSAGE_CHARS": str(max_chars)}, secrets={})
    return ChatService(settings, cast(Any, None), cast(Any, None), b"secret")


def _over_quota() -> None:
    ledger = SimpleNamespace(tokens_used=lambda _user_id, _since: 6345)
    user = SimpleNamespace(id=7, quota_tokens=5000, quota_period="day")
    check_quota(cast(Any, ledger), cast(Any, user), datetime(2025, 11, 20, 10, tzinfo=UTC))


NUMBERED = [
    (_over_quota, "quota_exceeded", {"used": 6345, "limit": 5000, "period": "day"}),
    (lambda: _chat(10).check_message("x" * 12), "message_too_long", {"length": 12, "limit": 10}),
    (lambda: check_password("short"), "password_too_short", {"minimum": 10}),
    (lambda: parse_stop("a\nb\nc\nd\ne"), "too_many_stop_sequences", {"limit": 4, "count": 5}),
    (lambda: parse_stop("a\n\nb"), "empty_stop_sequence", {"position": 2}),
    (lambda: parse_logit_bias('{"1734": 150}'), "bias_out_of_range", {"value": 150}),
    (
        lambda: GenerationParams(model="m", temperature=3.0).validate(),
        "number_out_of_range",
        {"field": "temperature", "low": 0.0, "high": 2.0, "value": 3.0},
    ),
    (
        lambda: ModelList(("gpt-4o",)).check("gone"),
        "model_not_offered",
        {"field": "model", "model": "gone"},
    ),
]


def _numbers(values: Any) -> set[float]:
    """The numbers among a sentence's params, numeric strings (a token id) included."""
    numeric = (
        value
        for value in values
        if (isinstance(value, int | float) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
    )
    return {float(value) for value in numeric}


@pytest.mark.parametrize(("raiser", "code", "params"), NUMBERED, ids=[n[1] for n in NUMBERED])
def test_the_numbers_in_a_sentence_are_params(
    raiser: Callable[[], Any], code: str, params: dict[str, Any]
) -> None:
    error = _catch(raiser)
    assert error.code == code
    assert params.items() <= error.params.items()
    shown = _numbers(error.params.values())
    for number in re.findall(r"\d[\d,]*(?:\.\d+)?", str(error)):
        assert float(number.replace(",", "")) in shown, f"{number} in {error} is not a param"


def test_the_quota_says_when_it_resets() -> None:
    error = _catch(_over_quota)
    assert error.params["resets"] == datetime(2025, 11, 21, tzinfo=UTC)
    assert str(error).endswith("resets at midnight UTC.")
