"""One call to chat.completions, streamed or not, feeding a LiveReply and returning its outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chatcore.chat.live import LiveReply
from chatcore.chat.outgoing import has_images, without_sources
from chatcore.chat.upstream_errors import ReplyError, describe_error
from chatcore.errors import StreamTruncated
from storage import MessageStatus, ReplyOutcome

if TYPE_CHECKING:  # openai takes ~0.5 s to import; only the generation thread needs it
    from openai import OpenAI

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """Everything needed to produce a turn's replies, fixed when the user pressed Enter.

    One message id per choice: a request with n > 1 fills several sibling replies at once.
    """

    message_ids: tuple[int, ...]
    conversation_id: str
    request: dict[str, Any]
    stream: bool = True
    # A teammate's personal key, or None for the team's. Kept out of repr, so out of logs.
    api_key: str | None = field(default=None, repr=False)
    # The messages before `request`'s, when the page left reading them to the generation
    # thread (a long conversation: thousands of rows); None when `request` is complete.
    history: Callable[[], list[dict[str, Any]]] | None = field(
        default=None, repr=False, compare=False
    )
    # (message id, tokens): the upstream's count of the thread up to that reply of the
    # request's, for fitting it to the context without tokenizing it all (fit_messages).
    counted: tuple[int, int] | None = None

    def with_history(self) -> GenerationJob:
        """The job with its request complete, reading the earlier messages if still due."""
        if self.history is None:
            return self
        messages = [*self.history(), *self.request["messages"]]
        return replace(self, request={**self.request, "messages": messages}, history=None)


@dataclass(slots=True)
class _Choice:
    """One choice's own part of a response: its text goes to its LiveReply."""

    live: LiveReply
    first_token_ms: int | None = None
    finish_reason: str | None = None
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add_call_delta(self, delta: dict[str, Any]) -> None:
        """Tool calls stream in pieces: id and name first, then the arguments in fragments."""
        index = delta.get("index")
        call = self.calls.setdefault(
            index if isinstance(index, int) else 0,
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        call["id"] = _text(delta.get("id")) or call["id"]
        function = delta.get("function")
        if isinstance(function, dict):
            call["function"]["name"] += _text(function.get("name"))
            call["function"]["arguments"] += _text(function.get("arguments"))

    def tool_calls(self) -> list[dict[str, Any]] | None:
        return [self.calls[index] for index in sorted(self.calls)] or None

    def weight(self) -> int:
        calls = self.tool_calls() or []
        return len(self.live.text()) + sum(len(call["function"]["arguments"]) for call in calls)


@dataclass(slots=True)
class _Progress:
    choices: list[_Choice]
    started: float = field(default_factory=time.monotonic)
    model: str | None = None
    response_id: str | None = None
    request_id: str | None = None
    system_fingerprint: str | None = None
    usage: dict[str, Any] | None = None

    @property
    def cancel_requested(self) -> bool:
        return any(choice.live.cancel_requested for choice in self.choices)

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def mark_first_token(self, choice: _Choice) -> None:
        if choice.first_token_ms is None:
            choice.first_token_ms = self.elapsed_ms()

    def outcomes(self, status: MessageStatus, error: ReplyError | None) -> list[ReplyOutcome]:
        """One outcome per choice; the request's usage is split so the shares add up exactly.

        The error is kept as its English text and as its code and values, from which each
        reader sees it in their own language."""
        usage = self.usage or {}
        count = len(self.choices)
        prompt = _shares(_count(usage.get("prompt_tokens")), [1] * count)
        completion = _shares(
            _count(usage.get("completion_tokens")), [c.weight() for c in self.choices]
        )
        total_ms = self.elapsed_ms()
        outcomes = []
        for index, choice in enumerate(self.choices):
            prompt_share, completion_share = prompt[index], completion[index]
            total = (
                prompt_share + completion_share
                if prompt_share is not None and completion_share is not None
                else _count(usage.get("total_tokens"))
                if count == 1
                else None
            )
            outcomes.append(
                ReplyOutcome(
                    content=choice.live.text(),
                    status=status,
                    finish_reason=choice.finish_reason,
                    model=self.model,
                    prompt_tokens=prompt_share,
                    completion_tokens=completion_share,
                    total_tokens=total,
                    first_token_ms=choice.first_token_ms,
                    total_ms=total_ms,
                    response_id=self.response_id,
                    request_id=self.request_id,
                    error=error.message if error else None,
                    error_code=error.code if error else None,
                    error_params=dict(error.params) if error else None,
                    tool_calls=choice.tool_calls(),
                    system_fingerprint=self.system_fingerprint,
                )
            )
        return outcomes


def _text(value: Any) -> str:
    """A string field of a chunk, or nothing when the upstream sent none (or not a string)."""
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    """A token count from the upstream's usage, if it is one."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _shares(total: int | None, weights: list[int]) -> list[int | None]:
    """Split a whole number by weight (largest remainder), so the parts sum to the total."""
    if total is None:
        return [None] * len(weights)
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    scale = sum(weights)
    exact = [total * weight / scale for weight in weights]
    parts = [int(value) for value in exact]
    by_remainder = sorted(
        range(len(weights)), key=lambda index: exact[index] - parts[index], reverse=True
    )
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return list(parts)


def _sdk_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """Arguments for chat.completions.create that send `request` exactly as it is.

    Everything but the model travels in extra_body, which the SDK merges into the JSON body
    untouched. Two reasons: the SDK re-walks every message against its typed schema before
    sending (about 80 ms for a 500-message conversation on a 2-core machine, on the path to
    the first token), and fields it no longer types (or would coerce) still go out as set.
    """
    body = dict(request)
    model = body.pop("model")
    return {"model": model, "messages": [], "extra_body": body}


def _stream(
    client: OpenAI,
    job: GenerationJob,
    progress: _Progress,
    checkpoint: Callable[[int, str], None],
) -> None:
    """Read as the SDK's streams are (its SSE reading, its errors, its retries before the first
    byte), but each chunk as the plain JSON object it is: with the SDK's typed chunk a chunk
    cost three times the CPU (bench/stream_cpu), and a real reply is a chunk a token, all of it
    on the one interpreter every page of the process shares."""
    from openai import Stream

    body = {"stream": True, "stream_options": {"include_usage": True}, **job.request}
    stream = client.post(
        "/chat/completions",
        body=body,
        cast_to=object,
        # As chat.completions.create asks: the API key only (never an OPENAI_ADMIN_KEY).
        options={"security": {"bearer_auth": True}},
        stream=True,
        stream_cls=Stream[Any],
    )
    for choice in progress.choices:
        choice.live.set_closer(stream.close)
    progress.request_id = stream.response.headers.get("x-request-id")
    choices = progress.choices
    last_checkpoint = time.monotonic()
    with stream:
        for chunk in stream:
            if progress.cancel_requested:
                return
            if isinstance(chunk, dict):
                _absorb(progress, chunk)
            if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                for choice in choices:
                    checkpoint(choice.live.message_id, choice.live.text())
                last_checkpoint = time.monotonic()
    if not progress.cancel_requested and any(c.finish_reason is None for c in choices):
        raise StreamTruncated()


def _absorb(progress: _Progress, chunk: dict[str, Any]) -> None:
    """One chunk into the replies. A field of the wrong type is passed over, as if not sent."""
    progress.response_id = progress.response_id or _text(chunk.get("id")) or None
    progress.model = _text(chunk.get("model")) or progress.model
    fingerprint = _text(chunk.get("system_fingerprint"))
    progress.system_fingerprint = fingerprint or progress.system_fingerprint
    if isinstance(chunk.get("usage"), dict):  # the last chunk, with no choices
        progress.usage = chunk["usage"]
    choices = progress.choices
    for part in chunk.get("choices") or ():
        index = part.get("index") if isinstance(part, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(choices):
            continue  # more choices than asked for: nowhere to put them
        choice = choices[index]
        delta = part.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        content = _text(delta.get("content"))
        if content:
            progress.mark_first_token(choice)
            choice.live.append(content)
        calls = delta.get("tool_calls")
        if isinstance(calls, list) and calls:
            progress.mark_first_token(choice)
            for call in calls:
                if isinstance(call, dict):
                    choice.add_call_delta(call)
        if part.get("finish_reason"):
            choice.finish_reason = _text(part["finish_reason"]) or None


def _complete(client: OpenAI, job: GenerationJob, progress: _Progress) -> None:
    raw = client.chat.completions.with_raw_response.create(**_sdk_arguments(job.request))
    progress.request_id = raw.headers.get("x-request-id")
    response = raw.parse()
    progress.response_id = response.id
    progress.model = response.model
    progress.usage = response.usage.model_dump() if response.usage is not None else None
    progress.system_fingerprint = response.system_fingerprint
    for part in response.choices:
        if not 0 <= part.index < len(progress.choices):
            continue
        choice = progress.choices[part.index]
        choice.finish_reason = part.finish_reason
        message = part.message
        if message.content:
            progress.mark_first_token(choice)
            choice.live.append(message.content)
        for position, call in enumerate(message.tool_calls or []):
            function = getattr(call, "function", None)
            choice.calls[position] = {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": getattr(function, "name", "") or "",
                    "arguments": getattr(function, "arguments", "") or "",
                },
            }


def generate(
    client: OpenAI,
    job: GenerationJob,
    lives: list[LiveReply],
    *,
    checkpoint: Callable[[int, str], None],
    base_url: str,
    timeout: float,
    prepare: Callable[[GenerationJob], GenerationJob] | None = None,
) -> list[ReplyOutcome]:
    """Run the request to the end and describe how each choice ended; never raises for
    API failures. `prepare` readies the complete request for the wire (fit to the model's
    context, images filled in: chatcore/chat/outgoing.py)."""
    progress = _Progress([_Choice(live) for live in lives])
    try:
        job = job.with_history()  # counted in first_token_ms: it is on the way to the request
        job = prepare(job) if prepare is not None else without_sources(job)
        if job.stream:
            _stream(client, job, progress, checkpoint)
        else:
            _complete(client, job, progress)
    except Exception as exc:  # every failure becomes a message in the conversation
        if progress.cancel_requested:  # closing the stream on Stop surfaces here as an error
            return progress.outcomes(MessageStatus.STOPPED, None)
        failure = describe_error(
            exc,
            base_url=base_url,
            timeout=timeout,
            mid_reply=progress.request_id is not None,
            had_images=has_images(job.request),
        )
        log.warning(
            "reply %s failed: %s (%s)", job.message_ids, failure.message, type(exc).__name__
        )
        return progress.outcomes(MessageStatus.ERROR, failure)
    if progress.cancel_requested:
        return progress.outcomes(MessageStatus.STOPPED, None)
    return progress.outcomes(MessageStatus.COMPLETE, None)
