"""What an import says back: the file refused whole (ImportRefused), or a report of what was
imported and which conversations were not, each with its reason as a sentence of its own.

Shared by the readers of each format (chatcore/chat/transfer_format.py, chatgpt_format.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatcore.errors import Sentence
from storage import FolderRecord


class Unreadable(Exception):
    """One conversation of a file that cannot be imported; the others still are."""

    def __init__(self, reason: Sentence) -> None:
        super().__init__(reason.message)
        self.reason = reason


def reason(code: str, template: str, **params: Any) -> Unreadable:
    return Unreadable(Sentence(code, template, params))


@dataclass(frozen=True, slots=True)
class BrokenConversation:
    """A conversation left out of an import: its place in the file (from 1), its title when
    it had a readable one, and why."""

    number: int
    title: str | None
    reason: Sentence


@dataclass(frozen=True, slots=True)
class ImportReport:
    """`folder` is where the conversations went; None when none could be imported (then no
    folder was made)."""

    source: str  # "anychat" or "chatgpt"
    folder: FolderRecord | None
    conversation_ids: list[str] = field(default_factory=list)
    messages: int = 0
    broken: list[BrokenConversation] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.conversation_ids)


def clean_text(text: str) -> str:
    """Text any database stores: PostgreSQL refuses NUL characters, and no driver encodes a
    lone surrogate (a JSON file may spell either as an escape)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value: Any) -> Any:
    """`clean_text` through a JSON value (settings, tool calls), keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    return value
