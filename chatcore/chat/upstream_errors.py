"""Turn whatever went wrong on the way to AnyAPI into a sentence a teammate can act on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatcore.errors import StreamTruncated

if TYPE_CHECKING:
    import openai


@dataclass(frozen=True, slots=True)
class ReplyError:
    """A failure as shown in the conversation, with the facts support will ask for."""

    message: str
    status_code: int | None = None
    request_id: str | None = None
    retry_after: float | None = None


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


def _with_request_id(text: str, request_id: str | None) -> str:
    return f"{text} (request id {request_id})" if request_id else text


def describe_error(
    error: BaseException, *, base_url: str, timeout: float, mid_reply: bool = False
) -> ReplyError:
    """Most specific first: the SDK's timeout is a connection error, its 429 a status error.

    `mid_reply` says the response had already begun, which changes what a dropped connection means.
    """
    import openai  # already loaded by the client; deferred like the client

    if isinstance(error, StreamTruncated):
        return ReplyError(
            "The reply stream ended before the reply was finished; the part that arrived is kept."
        )
    if isinstance(error, json.JSONDecodeError):
        return ReplyError(
            "AnyAPI sent a malformed chunk, so the reply stopped there; "
            "the part that arrived is kept."
        )
    if isinstance(error, openai.APITimeoutError):
        return ReplyError(f"AnyAPI did not answer within {timeout:g} seconds.")
    if isinstance(error, openai.APIConnectionError) and mid_reply:
        return ReplyError(
            "The connection to AnyAPI was lost in the middle of the reply; "
            "the part that arrived is kept."
        )
    if isinstance(error, openai.APIConnectionError):
        return ReplyError(f"Could not connect to {base_url}. Check the address and the network.")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ReplyError(
            _with_request_id(
                f"AnyAPI refused the API key (HTTP {error.status_code}). "
                "Ask your administrator to check ANYAPI_API_KEY.",
                error.request_id,
            ),
            status_code=error.status_code,
            request_id=error.request_id,
        )
    if isinstance(error, openai.RateLimitError):
        wait = _retry_after(error)
        hint = f" Try again in {wait:g} seconds." if wait is not None else " Try again shortly."
        return ReplyError(
            _with_request_id(
                f"AnyAPI is rate limiting requests (HTTP 429).{hint}", error.request_id
            ),
            status_code=429,
            request_id=error.request_id,
            retry_after=wait,
        )
    if isinstance(error, openai.APIStatusError):
        detail = _upstream_detail(error)
        kind = (
            "AnyAPI had a server error"
            if error.status_code >= 500
            else "AnyAPI rejected the request"
        )
        text = f"{kind} (HTTP {error.status_code})" + (f": {detail}" if detail else ".")
        return ReplyError(
            _with_request_id(text, error.request_id),
            status_code=error.status_code,
            request_id=error.request_id,
        )
    return ReplyError(f"Unexpected error while talking to AnyAPI ({type(error).__name__}).")
