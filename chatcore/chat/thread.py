"""The thread as data: its title, what the API is sent, and tool calls still unanswered.

Pure functions over message records, shared by the use cases and the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from storage import MessageRecord, MessageStatus, Role

TITLE_LENGTH = 60


@dataclass(frozen=True, slots=True)
class PendingCalls:
    """Tool calls at the end of the thread still waiting for their results."""

    message: MessageRecord
    calls: list[dict[str, Any]]


def title_from(text: str) -> str:
    """First line of the first message, whitespace collapsed, cut at a word near 60 chars."""
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "New chat")
    title = re.sub(r"\s+", " ", first_line).strip()
    if len(title) <= TITLE_LENGTH:
        return title
    cut = title[:TITLE_LENGTH].rsplit(" ", 1)[0] if " " in title[:TITLE_LENGTH] else title
    return cut[:TITLE_LENGTH].rstrip(" ,.;:") + "…"


def _answered_call_ids(thread: list[MessageRecord]) -> set[str]:
    return {m.tool_call_id for m in thread if m.role == Role.TOOL and m.tool_call_id}


def api_messages(thread: list[MessageRecord], system_prompt: str) -> list[dict[str, Any]]:
    """The conversation as the API sees it.

    Failed replies and empty placeholders are left out, and so are tool calls nobody answered
    (the user moved on): the API refuses a tool call without its result.
    """
    answered = _answered_call_ids(thread)
    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": Role.SYSTEM.value, "content": system_prompt})
    for message in thread:
        if message.role == Role.TOOL:
            messages.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
            continue
        if message.role != Role.ASSISTANT:
            messages.append({"role": message.role, "content": message.content})
            continue
        if message.status in (MessageStatus.ERROR, MessageStatus.STREAMING):
            continue
        calls = [
            call
            for call in (message.tool_calls or [])
            if message.status == MessageStatus.COMPLETE and call.get("id") in answered
        ]
        if not message.content and not calls:
            continue
        entry: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if calls:
            entry["tool_calls"] = calls
        messages.append(entry)
    return messages


def pending_calls(thread: list[MessageRecord]) -> PendingCalls | None:
    """The last reply's tool calls that have no result yet, if the thread ends with them."""
    answered: set[str] = set()
    for message in reversed(thread):
        if message.role == Role.TOOL and message.tool_call_id:
            answered.add(message.tool_call_id)
            continue
        if message.role != Role.ASSISTANT or message.status != MessageStatus.COMPLETE:
            return None
        waiting = [call for call in message.tool_calls or [] if call.get("id") not in answered]
        return PendingCalls(message, waiting) if waiting else None
    return None
