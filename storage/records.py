"""Plain values handed out by the repository, so callers never hold a live ORM session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class AttachmentKind(StrEnum):
    """How a file reaches the model: an image as an image part, the others as text parts."""

    IMAGE = "image"
    TEXT = "text"
    PDF = "pdf"


class AccountRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class SignInSource(StrEnum):
    """Where an account signs in: a password here, single sign-on, a reverse proxy, or
    single-user mode (ANYCHAT_AUTH=none)."""

    LOCAL = "local"
    OIDC = "oidc"
    PROXY = "proxy"
    NONE = "none"


class QuotaPeriod(StrEnum):
    """How often a token quota resets: at midnight UTC, or on the 1st of the month (UTC)."""

    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as pages see one. The password hash is deliberately absent: see Credentials."""

    id: int
    username: str
    display_name: str
    role: AccountRole = AccountRole.MEMBER
    disabled: bool = False
    auth_source: SignInSource = SignInSource.LOCAL
    email: str | None = None
    quota_tokens: int | None = None
    quota_period: QuotaPeriod | None = None
    last_login_at: datetime | None = None
    created_at: datetime | None = None
    language: str | None = None
    # Money per quota period (quota_period), in the installation's currency; None: no limit.
    quota_money: Decimal | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == AccountRole.ADMIN


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a password check needs, kept apart from UserRecord so the hash never travels
    beyond the sign-in code."""

    user: UserRecord
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class AttemptCount:
    """One sign-in throttle key's attempts in its current window, this attempt included."""

    attempts: int
    window_started_at: datetime


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A read-only link; the token itself is never stored, only its hash."""

    id: int
    conversation_id: str
    user_id: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Tokens one user spent on one model on one UTC day, and how many replies that was."""

    day: date
    model: str
    user_id: int
    username: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    replies: int


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    user_id: int
    title: str
    model: str
    settings: dict[str, Any]
    active_leaf_id: int | None
    pinned: bool
    archived: bool
    created_at: datetime
    updated_at: datetime
    folder_id: int | None = None
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class FolderRecord:
    """A person's folder of conversations; `preset_id` is what new chats in it start from."""

    id: int
    user_id: int
    name: str
    preset_id: int | None
    created_at: datetime
    conversations: int = 0


@dataclass(frozen=True, slots=True)
class NewAttachment:
    """A file ready to be stored with a message: checked, an image already scaled and
    re-encoded, a document's text already extracted (chatcore/attachments)."""

    name: str
    media_type: str
    kind: AttachmentKind
    data: bytes
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    # What the model reads of a text file or a PDF; None for an image.
    text: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """A file of a message, without its bytes: those are read only to be sent or shown
    (content-addressed by `sha256`, stored once however many messages carry them)."""

    id: int
    message_id: int
    position: int
    name: str
    media_type: str
    kind: AttachmentKind
    sha256: str
    size: int
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    conversation_id: str
    parent_id: int | None
    role: str
    content: str
    status: str
    created_at: datetime
    finish_reason: str | None = None
    model: str | None = None
    request_params: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    first_token_ms: int | None = None
    total_ms: int | None = None
    response_id: str | None = None
    request_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    error_params: dict[str, Any] | None = None
    owner_process: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    system_fingerprint: str | None = None
    choice_group: int | None = None
    choice_index: int | None = None
    # A user message's files, in the order they were attached.
    attachments: tuple[AttachmentRecord, ...] = ()
    # On a reply whose request left out the thread's oldest messages to fit the model's
    # context: the first message that was sent (the page marks where the context begins).
    context_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """The visible path through a conversation's tree, and the other branches at each step.

    `alternatives` maps a message on the path to all its siblings (itself included, oldest
    first) when it has any: earlier answers, regenerated replies, edited questions, choices.
    A part of the path read for drawing (storage/threads.py) leaves `hidden` messages before
    `messages` and, when it ends around a message landed on rather than at the newest one,
    `later` messages after them.
    """

    messages: list[MessageRecord]
    alternatives: dict[int, list[MessageRecord]]
    hidden: int = 0
    later: int = 0


@dataclass(frozen=True, slots=True)
class PresetRecord:
    id: int
    user_id: int
    owner: str
    name: str
    shared: bool
    settings: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """One page of the history list; `has_more` drives the "Older" control."""

    items: list[ConversationRecord]
    has_more: bool
    offset: int


@dataclass(slots=True)
class ReplyOutcome:
    """Everything known about a reply when generation ends, written in one update."""

    content: str
    status: MessageStatus
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    first_token_ms: int | None = None
    total_ms: int | None = None
    response_id: str | None = None
    request_id: str | None = None
    # The error's English text, and its code and values (chatcore.chat.upstream_errors).
    error: str | None = None
    error_code: str | None = None
    error_params: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    system_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationTree:
    """A conversation and every message of every branch, by id (parents before children):
    what an export holds."""

    conversation: ConversationRecord
    messages: list[MessageRecord]


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """A message to import. `key` and `parent_key` link it within its conversation (the ids
    only exist once it is written); `choice_group_key` is its group's first choice's key."""

    key: int
    parent_key: int | None
    role: str
    content: str
    status: str
    created_at: datetime
    finish_reason: str | None = None
    model: str | None = None
    request_params: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    first_token_ms: int | None = None
    total_ms: int | None = None
    response_id: str | None = None
    request_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    error_params: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    system_fingerprint: str | None = None
    choice_group_key: int | None = None
    choice_index: int | None = None
    # A user message's files, in order.
    attachments: tuple[NewAttachment, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    """A conversation to import, checked whole: its messages come parents first, and
    `active_leaf_key` is the key of the message its visible thread ends at."""

    title: str
    model: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    messages: list[ImportedMessage]
    active_leaf_key: int | None
    pinned: bool = False
    archived: bool = False


@dataclass(frozen=True, slots=True)
class SnippetPart:
    """A piece of a search snippet or title, and whether it is part of a match: the page
    marks matches itself, so no markup is ever built from someone's text."""

    text: str
    is_match: bool


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One conversation found by a search: its newest matching message (`message_id` and
    `role` are None when only the title matched), and the date of that message, else of the
    conversation's last activity."""

    conversation_id: str
    title: str
    folder_id: int | None
    archived: bool
    message_id: int | None
    role: str | None
    snippet: list[SnippetPart]
    title_parts: list[SnippetPart]
    date: datetime


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A search's hits, newest first; `has_more` when the limit cut the list short."""

    hits: list[SearchHit]
    has_more: bool


# A message's own columns, which a copy (a shared conversation's snapshot, an import) carries
# over as they are; ids, parent links, choice groups and times are set by whoever copies.
MESSAGE_CONTENT_FIELDS = (
    "role",
    "content",
    "status",
    "finish_reason",
    "model",
    "request_params",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "total_ms",
    "response_id",
    "request_id",
    "error",
    "error_code",
    "error_params",
    "tool_calls",
    "tool_call_id",
    "system_fingerprint",
    "choice_index",
)
