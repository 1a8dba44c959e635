"""The last step before a request leaves, on the generation thread: fit it to the model's
context, fill in its images, and take off what only AnyChat reads.

Here and not on the page thread: a long thread is read and counted, and image bytes are read,
only by the thread that waits on the upstream anyway, so the page that pressed Enter never does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chatcore.attachments import resolve_images
from chatcore.chat.thread import SOURCE_ID
from chatcore.context import (
    TokenCounter,
    context_window,
    fit_messages,
    reserve_for,
)
from chatcore.shared_setting import SharedSetting

if TYPE_CHECKING:
    from chatcore.chat.generation import GenerationJob
    from storage import ChatRepository

log = logging.getLogger(__name__)


class ContextWindows:
    """Each model's context window: an administrator's value, the built-in table, the default."""

    def __init__(self, load_overrides: Callable[[], Mapping[str, int]], default: int) -> None:
        empty: Mapping[str, int] = {}
        self._overrides = SharedSetting(load_overrides, empty, name="context windows")
        self._default = default

    def window(self, model: str) -> int:
        return context_window(model, self._overrides.get(), self._default)

    def forget(self) -> None:
        """Read the overrides again at the next use (this process just changed them)."""
        self._overrides.forget()


def has_images(request: Mapping[str, Any]) -> bool:
    """Whether any message of the request has an image part (a refusal may be about them)."""
    for message in request.get("messages", ()):
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "image_url" for part in content
        ):
            return True
    return False


def max_reply_tokens(request: Mapping[str, Any]) -> int | None:
    value = request.get("max_completion_tokens") or request.get("max_tokens")
    return value if isinstance(value, int) else None


class OutgoingRequests:
    """Prepares a job's request for the wire (GenerationJob.prepared)."""

    def __init__(
        self, repository: ChatRepository, windows: ContextWindows, counter: TokenCounter
    ) -> None:
        self._repository = repository
        self._windows = windows
        self._counter = counter

    def window(self, model: str) -> int:
        return self._windows.window(model)

    def check_fits(
        self, model: str, messages: list[dict[str, Any]], fields: Mapping[str, Any]
    ) -> None:
        """Raises ContextOverflow when `messages` (the system prompt and a new question) leave
        too little of the model's context for the reply: refused before anything is saved."""
        window = self._windows.window(model)
        reserve = reserve_for(max_reply_tokens(fields), window)
        fit_messages(messages, window=window, reserve=reserve, counter=self._counter, model=model)

    def prepare(self, job: GenerationJob) -> GenerationJob:
        """Raises ContextOverflow when even the newest question does not fit."""
        request = job.request
        messages = [dict(message) for message in request["messages"]]
        sources = [message.pop(SOURCE_ID, None) for message in messages]
        window = self._windows.window(str(request["model"]))
        reserve = reserve_for(max_reply_tokens(request), window)
        counted = None
        if job.counted is not None and job.counted[0] in sources:
            counted = (sources.index(job.counted[0]), job.counted[1])
        fit = fit_messages(
            messages,
            window=window,
            reserve=reserve,
            counter=self._counter,
            model=request["model"],
            counted=counted,
        )
        if fit.dropped:
            first = sources[fit.start] if fit.start < len(sources) else None
            if first is not None:
                self._repository.mark_context_start(job.message_ids, first)
        sent = resolve_images(list(fit.messages), self._repository.attachment_data)
        return replace(job, request={**request, "messages": sent})


def without_sources(job: GenerationJob) -> GenerationJob:
    """The request with the stored ids taken off, for a worker that prepares nothing else."""
    messages = job.request["messages"]
    if not any(SOURCE_ID in message for message in messages):
        return job
    cleaned = [{k: v for k, v in m.items() if k != SOURCE_ID} for m in messages]
    return replace(job, request={**job.request, "messages": cleaned})
