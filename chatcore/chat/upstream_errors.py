"""Turn whatever went wrong on the way to AnyAPI into a sentence a teammate can act on.

A failed reply keeps its sentence with the message, as a code and the values it shows
(messages.error_code, messages.error_params) beside the English text (messages.error), so each
reader sees it in their own language: `stored_reply_error` rebuilds it from a row, and a page
shows `explain(...)` of that. REPLY_ERRORS is every such sentence, one whole sentence per code:
a variant (with the request id, with the server's detail) is a sentence of its own, never an
English fragment added to a translated one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatcore.errors import AnyChatError, StreamTruncated
from chatcore.i18n import N_

if TYPE_CHECKING:
    import openai

    from storage import MessageRecord

# Codes of the reply errors produced outside describe_error.
INTERNAL_ERROR = "internal_error"  # the worker's thread crashed (chatcore/chat/worker.py)
SERVER_RESTARTED = "server_restarted"  # a reply left open by a stopped process (wiring.py)
# A row with an error text but no code we know (written before codes were kept).
UNKNOWN = "unknown"

REPLY_ERRORS: dict[str, str] = {
    "stream_truncated": N_(
        "The reply stream ended before the reply was finished; the part that arrived is kept."
    ),
    "malformed_chunk": N_(
        "AnyAPI sent a malformed chunk, so the reply stopped there; the part that arrived is kept."
    ),
    "timeout": N_("AnyAPI did not answer within {seconds:g} seconds."),
    "connection_lost": N_(
        "The connection to AnyAPI was lost in the middle of the reply; "
        "the part that arrived is kept."
    ),
    "cannot_connect": N_("Could not connect to {base_url}. Check the address and the network."),
    "key_refused": N_(
        "AnyAPI refused the API key (HTTP {status}). "
        "Ask your administrator to check ANYAPI_API_KEY."
    ),
    "key_refused_with_request_id": N_(
        "AnyAPI refused the API key (HTTP {status}). "
        "Ask your administrator to check ANYAPI_API_KEY. (request id {request_id})"
    ),
    "rate_limited": N_("AnyAPI is rate limiting requests (HTTP 429). Try again shortly."),
    "rate_limited_with_request_id": N_(
        "AnyAPI is rate limiting requests (HTTP 429). Try again shortly. (request id {request_id})"
    ),
    "rate_limited_retry_after": N_(
        "AnyAPI is rate limiting requests (HTTP 429). Try again in {seconds:g} seconds."
    ),
    "rate_limited_retry_after_with_request_id": N_(
        "AnyAPI is rate limiting requests (HTTP 429). Try again in {seconds:g} seconds. "
        "(request id {request_id})"
    ),
    "server_error": N_("AnyAPI had a server error (HTTP {status})."),
    "server_error_with_request_id": N_(
        "AnyAPI had a server error (HTTP {status}). (request id {request_id})"
    ),
    "server_error_detail": N_("AnyAPI had a server error (HTTP {status}): {detail}"),
    "server_error_detail_with_request_id": N_(
        "AnyAPI had a server error (HTTP {status}): {detail} (request id {request_id})"
    ),
    "request_rejected": N_("AnyAPI rejected the request (HTTP {status})."),
    "request_rejected_with_request_id": N_(
        "AnyAPI rejected the request (HTTP {status}). (request id {request_id})"
    ),
    "request_rejected_detail": N_("AnyAPI rejected the request (HTTP {status}): {detail}"),
    "request_rejected_detail_with_request_id": N_(
        "AnyAPI rejected the request (HTTP {status}): {detail} (request id {request_id})"
    ),
    "unexpected": N_("Unexpected error while talking to AnyAPI ({kind})."),
    "image_refused": N_(
        "The model refused the request with its images (HTTP {status}): it may not accept "
        "images. Choose a model that can see images, or send the question without them."
    ),
    "image_refused_detail": N_(
        "The model refused the request with its images (HTTP {status}): {detail}. It may not "
        "accept images: choose a model that can see images, or send the question without them."
    ),
    # chatcore.context's CONTEXT_OVERFLOW, raised on the generation thread and kept here too
    # (tests/test_errors.py checks the two are one sentence).
    "context_overflow": N_(
        "This request needs {needed:,} tokens, {reserve:,} of them kept for the reply, but "
        "{model} takes at most {window:,}. Shorten the message, remove files, or lower Max tokens."
    ),
    INTERNAL_ERROR: N_("Internal error while generating ({kind})."),
    SERVER_RESTARTED: N_(
        "The server process writing this reply stopped before it finished; "
        "the part that arrived is kept."
    ),
}


@dataclass(frozen=True, slots=True)
class ReplyError:
    """A failure as shown in the conversation, with the facts support will ask for.

    `template` is the English sentence (REPLY_ERRORS[code], or an old row's stored text) and
    `params` the values it shows: what `explain()` translates. `message` is the English.
    """

    code: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)
    status_code: int | None = None
    request_id: str | None = None
    retry_after: float | None = None

    @property
    def message(self) -> str:
        return self.template.format(**self.params) if self.params else self.template

    def __str__(self) -> str:
        return self.message

    def stored(self) -> tuple[str, str, dict[str, Any]]:
        """(error, error_code, error_params) as the messages table keeps them."""
        return self.message, self.code, dict(self.params)


def reply_error(
    code: str,
    *,
    status_code: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    **params: Any,
) -> ReplyError:
    """The registered sentence `code`, with the values it shows (JSON values: they are stored)."""
    return ReplyError(
        code,
        REPLY_ERRORS[code],
        params,
        status_code=status_code,
        request_id=request_id,
        retry_after=retry_after,
    )


def stored_reply_error(
    error: str | None, code: str | None, params: Mapping[str, Any] | None
) -> ReplyError | None:
    """A failed reply's error, rebuilt from its row (error, error_code, error_params).

    A known code gives its sentence, in any language; a row without one (written before codes
    were kept) or whose values no longer fit keeps its English text, shown as it is. None when
    the row has no error.
    """
    values = dict(params or {})
    if code in REPLY_ERRORS:
        template = REPLY_ERRORS[code]
        try:
            template.format(**values)
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # values that do not fit the sentence: fall back to the text as written
        else:
            return ReplyError(code, template, values, request_id=_text(values.get("request_id")))
    if not error:
        return None
    return ReplyError(code or UNKNOWN, error)


def reply_error_of(message: MessageRecord) -> ReplyError | None:
    """`stored_reply_error` for a message record."""
    return stored_reply_error(message.error, message.error_code, message.error_params)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _retry_after(error: openai.APIStatusError) -> float | None:
    raw = error.response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _upstream_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        detail = body.get("message") or body.get("error", {})
        if isinstance(detail, dict):
            detail = detail.get("message")
        if isinstance(detail, str) and detail:
            return detail[:500]
    return ""


# Words upstreams use when a model cannot take image parts ("image_url is only supported by
# certain models", "does not support image input", "multimodal", "vision", "unsupported content").
_IMAGE_WORDS = ("image", "vision", "multimodal", "multi-modal", "content type", "content part")


def _about_images(detail: str) -> bool:
    """A refusal that is probably about the images: its words say so, or it says nothing."""
    lowered = detail.lower()
    return not lowered or any(word in lowered for word in _IMAGE_WORDS)


def _status_error(
    code: str, error: openai.APIStatusError, *, retry_after: float | None = None, **params: Any
) -> ReplyError:
    """A status error's sentence, in its variant with the request id when there is one."""
    request_id = error.request_id
    if request_id:
        code = f"{code}_with_request_id"
        params["request_id"] = request_id
    return ReplyError(
        code,
        REPLY_ERRORS[code],
        params,
        status_code=error.status_code,
        request_id=request_id,
        retry_after=retry_after,
    )


def describe_error(
    error: BaseException,
    *,
    base_url: str,
    timeout: float,
    mid_reply: bool = False,
    had_images: bool = False,
) -> ReplyError:
    """Most specific first: the SDK's timeout is a connection error, its 429 a status error.

    `mid_reply` says the response had already begun, which changes what a dropped connection
    means; `had_images` that a 400 may be a model that cannot see.
    """
    import openai  # already loaded by the client; deferred like the client

    if isinstance(error, AnyChatError) and error.code in REPLY_ERRORS:
        return ReplyError(error.code, REPLY_ERRORS[error.code], dict(error.params))
    if isinstance(error, StreamTruncated):
        return reply_error("stream_truncated")
    if isinstance(error, json.JSONDecodeError):
        return reply_error("malformed_chunk")
    if isinstance(error, openai.APITimeoutError):
        return reply_error("timeout", seconds=timeout)
    if isinstance(error, openai.APIConnectionError) and mid_reply:
        return reply_error("connection_lost")
    if isinstance(error, openai.APIConnectionError):
        return reply_error("cannot_connect", base_url=base_url)
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return _status_error("key_refused", error, status=error.status_code)
    if isinstance(error, openai.RateLimitError):
        wait = _retry_after(error)
        if wait is None:
            return _status_error("rate_limited", error)
        return _status_error("rate_limited_retry_after", error, retry_after=wait, seconds=wait)
    if isinstance(error, openai.APIStatusError):
        detail = _upstream_detail(error)
        if had_images and error.status_code in (400, 415, 422) and _about_images(detail):
            if detail:
                return reply_error("image_refused_detail", status=error.status_code, detail=detail)
            return reply_error("image_refused", status=error.status_code)
        kind = "server_error" if error.status_code >= 500 else "request_rejected"
        if detail:
            return _status_error(f"{kind}_detail", error, status=error.status_code, detail=detail)
        return _status_error(kind, error, status=error.status_code)
    return reply_error("unexpected", kind=type(error).__name__)
