"""The thread as data: its title, what the API is sent, and tool calls still unanswered.

Pure functions over message records, shared by the use cases and the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chatcore.attachments import user_content
from chatcore.i18n import clip, display_width
from storage import MessageRecord, MessageStatus, Role

# As wide as the 60 characters an English title had before titles were measured in columns.
TITLE_WIDTH = 60
# Not left at the end of a cut title: spaces, clause punctuation, a joiner without its emoji.
_TRAILING = " ,.;:，。；：、\u200d"


@dataclass(frozen=True, slots=True)
class PendingCalls:
    """Tool calls at the end of the thread still waiting for their results."""

    message: MessageRecord
    calls: list[dict[str, Any]]


def title_from(text: str) -> str:
    """First line of the first message, whitespace collapsed, cut near TITLE_WIDTH columns.

    Columns, not characters: a CJK character takes two, so a Chinese title is about as wide in
    the sidebar as an English one. The cut falls at a whole character (a combining mark stays
    with its letter), and in a run of Latin letters at the last space, so no word is split.
    """
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "New chat")
    title = re.sub(r"\s+", " ", first_line).strip()
    if display_width(title) <= TITLE_WIDTH:
        return title
    head = clip(title, TITLE_WIDTH, ellipsis="")
    rest = title[len(head) :]
    if rest[:1] not in ("", " ") and not _breaks_after(head[-1:]):
        # Mid-word: back to the last place a line could break, if there is one.
        breaks = [index for index, char in enumerate(head) if _breaks_after(char)]
        if breaks:
            head = head[: breaks[-1] + 1]
    return head.rstrip(_TRAILING) + "…"


def _breaks_after(char: str) -> bool:
    """A word may end after `char`: a space, or a wide (CJK) character, which stands alone."""
    return char == " " or display_width(char) == 2


def _answered_call_ids(thread: list[MessageRecord]) -> set[str]:
    return {m.tool_call_id for m in thread if m.role == Role.TOOL and m.tool_call_id}


# On a request message while it is prepared: the id of the stored message it came from, so the
# thread can mark where a context cut to fit the model begins. Removed before the request leaves
# (chatcore/chat/outgoing.py).
SOURCE_ID = "_source_id"


def api_messages(
    thread: list[MessageRecord], system_prompt: str, *, sources: bool = False
) -> list[dict[str, Any]]:
    """The conversation as the API sees it.

    Failed replies and empty placeholders are left out, and so are tool calls nobody answered
    (the user moved on): the API refuses a tool call without its result. A question's files
    become content parts, its images as placeholders the generation thread fills in. With
    `sources`, each message carries its stored id under SOURCE_ID.
    """
    answered = _answered_call_ids(thread)
    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": Role.SYSTEM.value, "content": system_prompt})
    for message in thread:
        entry = _api_message(message, answered)
        if entry is None:
            continue
        if sources:
            entry[SOURCE_ID] = message.id
        messages.append(entry)
    return messages


def _api_message(message: MessageRecord, answered: set[str]) -> dict[str, Any] | None:
    if message.role == Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role != Role.ASSISTANT:
        return {"role": message.role, "content": user_content(message.content, message.attachments)}
    if message.status in (MessageStatus.ERROR, MessageStatus.STREAMING):
        return None
    calls = [
        call
        for call in (message.tool_calls or [])
        if message.status == MessageStatus.COMPLETE and call.get("id") in answered
    ]
    if not message.content and not calls:
        return None
    entry: dict[str, Any] = {"role": "assistant", "content": message.content or None}
    if calls:
        entry["tool_calls"] = calls
    return entry


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
