"""One call to chat.completions, streamed or not, feeding a LiveReply and returning its outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatcore.errors import StreamTruncated, describe_error
from chatcore.live import LiveReply
from storage import MessageStatus, ReplyOutcome

if TYPE_CHECKING:  # openai takes ~0.5 s to import; only the generation thread needs it
    from openai import OpenAI

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """Everything needed to produce one assistant message, fixed when the user pressed Enter."""

    message_id: int
    conversation_id: str
    request: dict[str, Any]
    stream: bool = True


@dataclass(slots=True)
class _Progress:
    started: float = field(default_factory=time.monotonic)
    first_token_ms: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    response_id: str | None = None
    request_id: str | None = None
    usage: Any = None

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def mark_first_token(self) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = self.elapsed_ms()

    def outcome(self, content: str, status: MessageStatus, error: str | None) -> ReplyOutcome:
        usage = self.usage
        return ReplyOutcome(
            content=content,
            status=status,
            finish_reason=self.finish_reason,
            model=self.model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            total_tokens=getattr(usage, "total_tokens", None),
            first_token_ms=self.first_token_ms,
            total_ms=self.elapsed_ms(),
            response_id=self.response_id,
            request_id=self.request_id,
            error=error,
        )


def _sdk_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """Arguments for chat.completions.create that send `request` as it is.

    The SDK re-walks every message against its typed schema before sending (about 80 ms for a
    500-message conversation on a 2-core machine, on the path to the first token). Our messages
    are plain JSON already, so they travel in extra_body, which the SDK merges into the body
    untouched; the body on the wire is the same.
    """
    arguments = dict(request)
    messages = arguments.pop("messages")
    return {**arguments, "messages": [], "extra_body": {"messages": messages}}


def _stream(
    client: OpenAI,
    job: GenerationJob,
    live: LiveReply,
    progress: _Progress,
    checkpoint: Callable[[str], None],
) -> None:
    stream = client.chat.completions.create(
        **_sdk_arguments(job.request), stream=True, stream_options={"include_usage": True}
    )
    live.set_closer(stream.close)
    progress.request_id = stream.response.headers.get("x-request-id")
    last_checkpoint = time.monotonic()
    with stream:
        for chunk in stream:
            if live.cancel_requested:
                return
            progress.response_id = progress.response_id or chunk.id
            progress.model = chunk.model or progress.model
            if chunk.usage is not None:
                progress.usage = chunk.usage
            # The usage chunk has no choices; n>1 choices belong to later work, so take index 0.
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                text = choice.delta.content if choice.delta is not None else None
                if text:
                    progress.mark_first_token()
                    live.append(text)
                if choice.finish_reason:
                    progress.finish_reason = choice.finish_reason
            if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                checkpoint(live.text())
                last_checkpoint = time.monotonic()
    if progress.finish_reason is None and not live.cancel_requested:
        raise StreamTruncated


def _complete(client: OpenAI, job: GenerationJob, live: LiveReply, progress: _Progress) -> None:
    raw = client.chat.completions.with_raw_response.create(**_sdk_arguments(job.request))
    progress.request_id = raw.headers.get("x-request-id")
    response = raw.parse()
    progress.response_id = response.id
    progress.model = response.model
    progress.usage = response.usage
    if response.choices:
        choice = response.choices[0]
        progress.finish_reason = choice.finish_reason
        if choice.message.content:
            progress.mark_first_token()
            live.append(choice.message.content)


def generate(
    client: OpenAI,
    job: GenerationJob,
    live: LiveReply,
    *,
    checkpoint: Callable[[str], None],
    base_url: str,
    timeout: float,
) -> ReplyOutcome:
    """Run the request to the end and describe how it ended; never raises for API failures."""
    progress = _Progress()
    try:
        if job.stream:
            _stream(client, job, live, progress, checkpoint)
        else:
            _complete(client, job, live, progress)
    except Exception as exc:  # every failure becomes a message in the conversation
        if live.cancel_requested:  # closing the stream on Stop surfaces here as a read error
            return progress.outcome(live.text(), MessageStatus.STOPPED, None)
        failure = describe_error(
            exc, base_url=base_url, timeout=timeout, mid_reply=progress.request_id is not None
        )
        log.warning("reply %s failed: %s (%s)", job.message_id, failure.message, type(exc).__name__)
        return progress.outcome(live.text(), MessageStatus.ERROR, failure.message)
    if live.cancel_requested:
        return progress.outcome(live.text(), MessageStatus.STOPPED, None)
    return progress.outcome(live.text(), MessageStatus.COMPLETE, None)
