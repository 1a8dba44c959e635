"""The error tree: one root, one code per sentence, and the values a sentence shows as params.

The codes are what a translation layer will key on, so the table below is the contract: a code
renamed, reused for another sentence, or added without an entry here fails this test. The
raises are read from the source, so no sentence can be missed: each passes its sentence as an
`N_("literal")` template (or a module constant holding one), so Babel extracts it, with every
`{field}` given as a keyword param. A failed reply's sentences are REPLY_ERRORS, one per code
that describe_error, the worker and a restart can write.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import string
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx2
import openai
import pytest

import chatcore.errors as errors
from chatcore.chat.catalog import LOADING_NOTE, UNAVAILABLE_NOTE, ModelList
from chatcore.chat.generation import GenerationJob
from chatcore.chat.params import GenerationParams, parse_logit_bias, parse_stop
from chatcore.chat.upstream_errors import (
    INTERNAL_ERROR,
    REPLY_ERRORS,
    SERVER_RESTARTED,
    UNKNOWN,
    describe_error,
    reply_error,
    reply_error_of,
    stored_reply_error,
)
from chatcore.chat.use_cases import ChatService
from chatcore.chat.worker import GenerationWorker
from chatcore.config import load_settings
from chatcore.context import CONTEXT_OVERFLOW
from chatcore.errors import (
    AccountDisabled,
    AccountError,
    AnyChatError,
    AttachmentRefused,
    CalculatorError,
    ChatInputError,
    ConfigError,
    ContextOverflow,
    ConversationNotFound,
    ImagesUnsupported,
    ImportRefused,
    InvalidParameter,
    JsonModeUnmentioned,
    KeyUnreadable,
    LibraryError,
    MissingApiKey,
    ModelNotAllowed,
    ModelNotOffered,
    PresetNotFound,
    QuotaExceeded,
    SearchError,
    Sentence,
    StreamTruncated,
    UserError,
)
from chatcore.i18n import translator
from chatcore.team.accounts import check_password
from chatcore.team.usage import check_quota
from chatcore.tools.builtin import run_builtin
from storage import MessageRecord, MessageStatus, ReplyOutcome

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("chatcore", "storage", "ui", "web")

# Classes raised with several sentences: every raise names its code.
FAMILIES = (ChatInputError, AccountError, InvalidParameter, ConfigError, LibraryError, SearchError)
# Classes whose constructor writes the sentence itself.
SENTENCE_IN_CLASS = (ModelNotOffered, ModelNotAllowed, StreamTruncated)

CODES: dict[str, type[AnyChatError]] = {
    # Sending
    "message_empty": ChatInputError,
    "message_too_long": ChatInputError,
    "tool_call_answered": ChatInputError,
    "tool_result_too_long": ChatInputError,
    "too_many_compared": ChatInputError,
    "not_a_builtin_tool": ChatInputError,
    "prompt_blank_empty": ChatInputError,
    "json_mode_unmentioned": JsonModeUnmentioned,
    "quota_exceeded": QuotaExceeded,
    "quota_exceeded_month": QuotaExceeded,
    "quota_money_exceeded": QuotaExceeded,
    "quota_money_exceeded_month": QuotaExceeded,
    "account_disabled": AccountDisabled,
    "missing_api_key": MissingApiKey,
    "api_key_not_configured": MissingApiKey,
    "conversation_not_found": ConversationNotFound,
    "share_not_found": ConversationNotFound,
    "preset_not_found": PresetNotFound,
    "model_not_offered": ModelNotOffered,
    "model_not_allowed": ModelNotAllowed,
    # Request settings
    "model_missing": InvalidParameter,
    "system_prompt_blanks": InvalidParameter,
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
    # Folders, archive, bulk actions, retention
    "folder_name_missing": LibraryError,
    "folder_name_too_long": LibraryError,
    "folder_name_taken": LibraryError,
    "folder_not_found": LibraryError,
    "bulk_scope_missing": LibraryError,
    "retention_days_invalid": LibraryError,
    # Search
    "search_query_empty": SearchError,
    "search_query_too_long": SearchError,
    # Importing a file
    "import_too_large": ImportRefused,
    "import_unpacked_too_large": ImportRefused,
    "import_bad_zip": ImportRefused,
    "import_zip_unknown": ImportRefused,
    "import_not_json_or_zip": ImportRefused,
    "import_invalid_json": ImportRefused,
    "import_json_too_deep": ImportRefused,
    "import_unknown_format": ImportRefused,
    "import_empty": ImportRefused,
    # Attaching files
    "attachments_off": AttachmentRefused,
    "too_many_attachments": AttachmentRefused,
    "attachment_empty": AttachmentRefused,
    "attachment_too_large": AttachmentRefused,
    "attachments_too_large": AttachmentRefused,
    "attachment_unsupported": AttachmentRefused,
    "image_unreadable": AttachmentRefused,
    "image_too_many_pixels": AttachmentRefused,
    "text_unreadable": AttachmentRefused,
    "pdf_unreadable": AttachmentRefused,
    "pdf_encrypted": AttachmentRefused,
    "pdf_too_many_pages": AttachmentRefused,
    "pdf_no_text": AttachmentRefused,
    "images_unsupported": ImagesUnsupported,
    "context_overflow": ContextOverflow,
    # Voice input
    "recording_empty": ChatInputError,
    "recording_too_large": ChatInputError,
    "recording_silent": ChatInputError,
    "transcription_unavailable": ChatInputError,
    "transcription_failed": ChatInputError,
    "transcription_unreachable": ChatInputError,
    # Context windows an administrator sets
    "context_window_line_unreadable": ConfigError,
    "context_window_out_of_range": ConfigError,
    # Prices an administrator sets
    "price_row_unreadable": AccountError,
    "price_not_a_price": AccountError,
    "price_model_repeated": AccountError,
    "price_csv_not_text": AccountError,
    "price_csv_no_header": AccountError,
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
    "too_many_attempts_one_minute": AccountError,
    "wrong_current_password": AccountError,
    "admins_only": AccountError,
    "no_such_user": AccountError,
    "unknown_role": AccountError,
    "signs_in_elsewhere": AccountError,
    "last_admin": AccountError,
    "disable_self": AccountError,
    "quota_not_whole": AccountError,
    "quota_period_missing": AccountError,
    "quota_money_not_amount": AccountError,
    "api_key_empty": AccountError,
    "api_key_too_long": AccountError,
    "api_key_malformed": AccountError,
    "unknown_language": AccountError,
    # The operator's settings
    "secrets_not_toml": ConfigError,
    "not_a_number": ConfigError,
    "below_minimum": ConfigError,
    "unknown_auth_mode": ConfigError,
    "not_a_network": ConfigError,
    "admin_setting_invalid": ConfigError,
    "secret_file_empty": ConfigError,
    "language_unknown": ConfigError,
    "currency_unknown": ConfigError,
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


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _marked(node: ast.expr) -> str | None:
    """The literal of an `N_("...")` call, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "N_"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _constants() -> tuple[dict[str, str], dict[str, list[str]]]:
    """Module constants holding sentences: `NAME = N_("...")`, and dicts whose every value is
    one (`_REFUSED = {ast.Attribute: N_("..."), ...}`), by name across the scanned code."""
    sentences: dict[str, str] = {}
    tables: dict[str, list[str]] = {}
    for _, module in _sources():
        for node in module.body:
            target = node.targets[0] if isinstance(node, ast.Assign) else None
            if isinstance(node, ast.AnnAssign):
                target = node.target
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if not isinstance(target, ast.Name) or value is None:
                continue
            if _marked(value) is not None:
                assert sentences.get(target.id, _marked(value)) == _marked(value), target.id
                sentences[target.id] = cast(str, _marked(value))
            elif isinstance(value, ast.Dict) and value.values:
                marked = [_marked(item) for item in value.values]
                if all(text is not None for text in marked):
                    tables[target.id] = cast(list[str], marked)
    return sentences, tables


SENTENCES, TABLES = _constants()


def _raises() -> Iterator[tuple[str, type[AnyChatError], ast.Call]]:
    """(where, class, call) for each `raise SomeError(...)` of the tree in the app's code."""
    tree = {cls.__name__: cls for cls in tree_classes()}
    for path, module in _sources():
        for node in ast.walk(module):
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


def _templates(sentence: ast.expr) -> list[str]:
    """The English templates a raise can pass: its `N_("...")`, or the constant's."""
    if _marked(sentence) is not None:
        return [cast(str, _marked(sentence))]
    if isinstance(sentence, ast.Name) and sentence.id in SENTENCES:
        return [SENTENCES[sentence.id]]
    if (
        isinstance(sentence, ast.Subscript)
        and isinstance(sentence.value, ast.Name)
        and sentence.value.id in TABLES
    ):
        return TABLES[sentence.value.id]
    return []


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


RAISES = list(_raises())


def test_the_source_raises_errors_of_the_tree() -> None:
    assert len(RAISES) > 80  # the scan found them
    assert {"LAST_ADMIN", "CONVERSATION_GONE", "NO_TEAM_KEY"} <= set(SENTENCES)


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


@pytest.mark.parametrize(("where", "cls", "call"), RAISES, ids=[r[0] for r in RAISES])
def test_each_raise_passes_a_marked_template_and_every_value_it_shows(
    where: str, cls: type[AnyChatError], call: ast.Call
) -> None:
    """`N_("literal")` (or a constant holding one) so Babel extracts it; no f-string, no
    joined fragments; each `{field}` a keyword param; and the template formats with them."""
    sentence = _sentence(cls, call)
    if sentence is None:  # the class writes its own sentence: checked below
        assert not call.keywords or cls is ModelNotOffered, where
        return
    assert not any(isinstance(node, ast.JoinedStr) for node in ast.walk(call)), (
        f"{where}: an f-string: pass the values as params of a template"
    )
    templates = _templates(sentence)
    assert templates, f'{where}: the sentence is not N_("...") nor a constant holding one'
    given = {keyword.arg for keyword in call.keywords if keyword.arg not in (None, "code")}
    if issubclass(cls, InvalidParameter):
        given.add("field")  # the control's name, always a param
    for template in templates:
        missing = _fields(template) - given
        assert not missing, f"{where}: {sorted(missing)} shown but not given as params"
        if given:  # formatted only with params: literal braces are doubled exactly then
            values = dict.fromkeys(given, 1)
            assert template.format(**values), where
        else:
            assert not _fields(template), where


@pytest.mark.parametrize(
    "error",
    [ModelNotOffered("gpt-9"), ModelNotAllowed("gpt-9"), StreamTruncated()],
    ids=lambda error: type(error).__name__,
)
def test_a_sentence_written_by_its_class_is_a_template_too(error: AnyChatError) -> None:
    assert _fields(error.template) <= set(error.params)
    assert str(error) == (error.template.format(**error.params) if error.params else error.template)
    assert translator("en").explain(error) == str(error)
    source = inspect.getsource(type(error))
    assert f"N_({json.dumps(error.template, ensure_ascii=False)})" in source


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


# --- the error itself: a template and its values ---------------------------------------------


def test_an_error_keeps_its_template_and_fills_it_for_english() -> None:
    error = AccountError(
        "The password must have at least {minimum} characters.",
        code="password_too_short",
        minimum=10,
    )
    assert error.template == "The password must have at least {minimum} characters."
    assert error.params == {"minimum": 10}
    assert str(error) == error.message == "The password must have at least 10 characters."
    assert translator("en").explain(error) == str(error)
    # Without params the template is the sentence as written, braces and all.
    assert str(ChatInputError("Use {braces}.", code="message_empty")) == "Use {braces}."


def test_an_invalid_parameter_names_its_field_among_its_params() -> None:
    error = InvalidParameter(
        "temperature", "{field} must be at most {high}.", code="number_out_of_range", high=2
    )
    assert (error.field, error.params) == ("temperature", {"field": "temperature", "high": 2})
    assert str(error) == "temperature must be at most 2."


def test_a_kept_sentence_is_explained_like_an_error() -> None:
    for note in (LOADING_NOTE, UNAVAILABLE_NOTE):
        assert isinstance(note, Sentence)
        assert str(note) == note.message == note.template  # no values
        assert translator("en").explain(note) == note.message
    assert ModelList(("m",), UNAVAILABLE_NOTE).error is UNAVAILABLE_NOTE


# --- reply errors: one registered sentence per code, stored and rebuilt ---------------------

URL = "https://anyapi.example/v1"
REQUEST = httpx2.Request("POST", URL + "/chat/completions")


def _response(status: int, *, request_id: str | None = None, **headers: str) -> httpx2.Response:
    if request_id:
        headers["x-request-id"] = request_id
    return httpx2.Response(status, headers=headers, request=REQUEST)


def _status(
    cls: type[openai.APIStatusError],
    status: int,
    *,
    body: object = None,
    request_id: str | None = None,
    **headers: str,
) -> openai.APIStatusError:
    return cls("failed", response=_response(status, request_id=request_id, **headers), body=body)


def _bad_json() -> json.JSONDecodeError:
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


# (what went wrong, mid_reply, the code, its params): every branch of describe_error.
BRANCHES: list[tuple[BaseException, bool, str, dict[str, Any]]] = [
    (StreamTruncated(), True, "stream_truncated", {}),
    (_bad_json(), True, "malformed_chunk", {}),
    (openai.APITimeoutError(REQUEST), False, "timeout", {"seconds": 30.0}),
    (openai.APIConnectionError(request=REQUEST), True, "connection_lost", {}),
    (openai.APIConnectionError(request=REQUEST), False, "cannot_connect", {"base_url": URL}),
    (_status(openai.AuthenticationError, 401), False, "key_refused", {"status": 401}),
    (
        _status(openai.PermissionDeniedError, 403, request_id="req_1"),
        False,
        "key_refused_with_request_id",
        {"status": 403, "request_id": "req_1"},
    ),
    (_status(openai.RateLimitError, 429), False, "rate_limited", {}),
    (
        _status(openai.RateLimitError, 429, request_id="req_2"),
        False,
        "rate_limited_with_request_id",
        {"request_id": "req_2"},
    ),
    (
        _status(openai.RateLimitError, 429, **{"retry-after": "7"}),
        False,
        "rate_limited_retry_after",
        {"seconds": 7.0},
    ),
    (
        _status(openai.RateLimitError, 429, request_id="req_3", **{"retry-after": "2.5"}),
        False,
        "rate_limited_retry_after_with_request_id",
        {"seconds": 2.5, "request_id": "req_3"},
    ),
    (_status(openai.InternalServerError, 500), False, "server_error", {"status": 500}),
    (
        _status(openai.InternalServerError, 502, request_id="req_4"),
        False,
        "server_error_with_request_id",
        {"status": 502, "request_id": "req_4"},
    ),
    (
        _status(openai.InternalServerError, 500, body={"message": "boom"}),
        False,
        "server_error_detail",
        {"status": 500, "detail": "boom"},
    ),
    (
        _status(
            openai.InternalServerError, 503, body={"error": {"message": "down"}}, request_id="r5"
        ),
        False,
        "server_error_detail_with_request_id",
        {"status": 503, "detail": "down", "request_id": "r5"},
    ),
    (_status(openai.BadRequestError, 400), False, "request_rejected", {"status": 400}),
    (
        _status(openai.NotFoundError, 404, request_id="req_6"),
        False,
        "request_rejected_with_request_id",
        {"status": 404, "request_id": "req_6"},
    ),
    (
        _status(openai.BadRequestError, 400, body={"message": "context too long"}),
        False,
        "request_rejected_detail",
        {"status": 400, "detail": "context too long"},
    ),
    (
        _status(openai.BadRequestError, 400, body={"message": "no {such} model"}, request_id="r7"),
        False,
        "request_rejected_detail_with_request_id",
        {"status": 400, "detail": "no {such} model", "request_id": "r7"},
    ),
    (RuntimeError("?"), False, "unexpected", {"kind": "RuntimeError"}),
]


@pytest.mark.parametrize(
    ("error", "mid_reply", "code", "params"), BRANCHES, ids=[b[2] for b in BRANCHES]
)
def test_each_failure_is_a_registered_sentence_with_its_values(
    error: BaseException, mid_reply: bool, code: str, params: dict[str, Any]
) -> None:
    failure = describe_error(error, base_url=URL, timeout=30.0, mid_reply=mid_reply)
    assert (failure.code, dict(failure.params)) == (code, params)
    assert failure.template == REPLY_ERRORS[code]
    assert _fields(failure.template) == set(params)  # every value it shows, nothing else
    assert failure.message == (failure.template.format(**params) if params else failure.template)
    assert "{" not in failure.message.replace("{such}", "")  # filled in, nothing left over
    assert translator("en").explain(failure) == failure.message
    assert translator("zh_CN").explain(failure)  # a catalogue without it falls back to English
    if "request_id" in params:
        assert failure.request_id == params["request_id"]
        assert failure.message.endswith(f"(request id {params['request_id']})")
    # What the messages table keeps, through JSON, gives the same sentence back.
    text, stored_code, stored_params = failure.stored()
    rebuilt = stored_reply_error(text, stored_code, json.loads(json.dumps(stored_params)))
    assert rebuilt is not None
    assert (rebuilt.code, rebuilt.template, rebuilt.message) == (code, failure.template, text)


def test_a_refused_image_and_a_context_overflow_are_reply_sentences() -> None:
    refused = _status(openai.BadRequestError, 400, body={"message": "image_url is not supported"})
    failure = describe_error(refused, base_url=URL, timeout=30.0, had_images=True)
    assert (failure.code, dict(failure.params)) == (
        "image_refused_detail",
        {"status": 400, "detail": "image_url is not supported"},
    )
    silent = describe_error(
        _status(openai.BadRequestError, 400), base_url=URL, timeout=30.0, had_images=True
    )
    assert (silent.code, dict(silent.params)) == ("image_refused", {"status": 400})
    # Without images, the same 400 is an ordinary rejection.
    plain = describe_error(refused, base_url=URL, timeout=30.0)
    assert plain.code == "request_rejected_detail"
    overflow = ContextOverflow(CONTEXT_OVERFLOW, needed=9, reserve=2, model="m", window=5)
    failure = describe_error(overflow, base_url=URL, timeout=30.0)
    assert failure.code == "context_overflow"
    assert REPLY_ERRORS["context_overflow"] == CONTEXT_OVERFLOW
    assert failure.message == str(overflow)


def test_the_registry_is_exactly_the_sentences_a_reply_can_end_with() -> None:
    produced = {code for _, _, code, _ in BRANCHES} | {INTERNAL_ERROR, SERVER_RESTARTED}
    produced |= {"image_refused", "image_refused_detail", "context_overflow"}
    assert produced == set(REPLY_ERRORS)
    # Each written in place as N_("..."), so Babel extracts it.
    assert sorted(TABLES["REPLY_ERRORS"]) == sorted(REPLY_ERRORS.values())
    for code, template in REPLY_ERRORS.items():
        assert len(code) <= 60  # messages.error_code
        assert template.format(**dict.fromkeys(_fields(template), 1))


def test_the_rate_limit_keeps_its_wait() -> None:
    error = _status(openai.RateLimitError, 429, **{"retry-after": "7"})
    failure = describe_error(error, base_url=URL, timeout=30.0)
    assert (failure.status_code, failure.retry_after) == (429, 7.0)
    assert failure.message == "AnyAPI is rate limiting requests (HTTP 429). Try again in 7 seconds."


def test_a_crashed_worker_and_a_restart_write_registered_codes() -> None:
    finished: list[ReplyOutcome] = []

    def crash(_key: str | None) -> Any:
        raise RuntimeError("no client")

    repository = SimpleNamespace(
        save_progress=lambda *_: None,
        finish_reply=lambda _id, outcome: finished.append(outcome),
    )
    worker = GenerationWorker(
        cast(Any, repository), crash, base_url=URL, timeout=1.0, max_workers=1
    )
    try:
        worker.submit(GenerationJob(message_ids=(1,), conversation_id="c", request={}))
        assert worker.wait_idle(5)
    finally:
        worker.shutdown()
    [outcome] = finished
    assert (outcome.status, outcome.error_code, outcome.error_params) == (
        MessageStatus.ERROR,
        INTERNAL_ERROR,
        {"kind": "RuntimeError"},
    )
    assert outcome.error == "Internal error while generating (RuntimeError)."
    restart = reply_error(SERVER_RESTARTED)
    assert restart.message.startswith("The server process writing this reply stopped")


def _record(**fields: Any) -> MessageRecord:
    return MessageRecord(
        id=1,
        conversation_id="c",
        parent_id=None,
        role="assistant",
        content="",
        status=MessageStatus.ERROR,
        created_at=datetime(2025, 11, 20, tzinfo=UTC),
        **fields,
    )


def test_a_stored_reply_error_is_rebuilt_from_its_row() -> None:
    known = stored_reply_error("English text", "timeout", {"seconds": 5.0})
    assert known is not None
    assert (known.code, known.template, known.message) == (
        "timeout",
        REPLY_ERRORS["timeout"],
        "AnyAPI did not answer within 5 seconds.",
    )
    # A row from before codes were kept, or with a code this release does not know: the text
    # as written, braces and all, with no values to fill in.
    for code in (None, "gone_code"):
        old = stored_reply_error("Old {text}.", code, None)
        assert old is not None
        assert (old.code, old.template, old.params, old.message) == (
            code or UNKNOWN,
            "Old {text}.",
            {},
            "Old {text}.",
        )
        assert translator("zh_CN").explain(old) == "Old {text}."
    # Values that no longer fit the sentence: the stored text rather than an exception.
    broken = stored_reply_error("AnyAPI did not answer.", "timeout", {})
    assert broken is not None and broken.message == "AnyAPI did not answer."
    assert stored_reply_error(None, None, None) is None
    assert stored_reply_error("", None, {}) is None
    record = _record(error="x", error_code="server_error", error_params={"status": 500})
    rebuilt = reply_error_of(record)
    assert rebuilt is not None and rebuilt.message == "AnyAPI had a server error (HTTP 500)."
    assert reply_error_of(_record()) is None
