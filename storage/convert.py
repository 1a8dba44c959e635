"""Rows to records, and the one UTC normaliser: every repository converts through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Table

from storage.models import Conversation, Folder, Message, Preset, Share, User
from storage.records import (
    AccountRole,
    AttachmentRecord,
    ConversationRecord,
    FolderRecord,
    MessageRecord,
    PresetRecord,
    QuotaPeriod,
    ShareRecord,
    SignInSource,
    UserRecord,
)

QUOTA_PERIODS = frozenset(QuotaPeriod)

# A message read through Core, not the ORM (thousands of rows come back as plain tuples):
# MessageRecord's fields in order, each a column of the same name, its files aside (rows of
# their own, storage/attachments.py), then how many files it has, so that the files are
# looked for only when some message read has them.
_MESSAGES = cast(Table, Message.__table__)
_FIELDS = list(MessageRecord.__dataclass_fields__)
_ROW_FIELDS = [name for name in _FIELDS if name != "attachments"]
MESSAGE_COLUMNS: tuple[Column[Any], ...] = (
    *(_MESSAGES.c[name] for name in _ROW_FIELDS),
    _MESSAGES.c.attachment_count,
)
# Where in such a row the file count is; columns a query adds come after it.
FILE_COUNT_AT = len(_ROW_FIELDS)
_CREATED_AT = _ROW_FIELDS.index("created_at")
_ATTACHMENTS_AT = _FIELDS.index("attachments")
NO_FILES: Mapping[int, tuple[AttachmentRecord, ...]] = {}


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive time is read as UTC already.

    SQLite keeps a time's digits but not its zone, so every stored time is UTC, every time
    sent to the database must be UTC for comparisons to hold, and every time read back is
    labelled UTC here.
    """
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def user_record(row: User) -> UserRecord:
    """Every field but the password hash, which travels only in Credentials."""
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=AccountRole(row.role),
        disabled=row.disabled,
        auth_source=SignInSource(row.auth_source),
        email=row.email,
        quota_tokens=row.quota_tokens,
        # Only set_quota writes it, checked; anything else reads as no period (monthly).
        quota_period=QuotaPeriod(row.quota_period) if row.quota_period in QUOTA_PERIODS else None,
        last_login_at=maybe_utc(row.last_login_at),
        created_at=maybe_utc(row.created_at),
        language=row.language,
        quota_money=row.quota_money,
    )


def share_record(row: Share) -> ShareRecord:
    return ShareRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        created_at=as_utc(row.created_at),
        revoked_at=maybe_utc(row.revoked_at),
    )


def conversation_record(row: Conversation) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        model=row.model,
        settings=dict(row.settings or {}),
        active_leaf_id=row.active_leaf_id,
        pinned=row.pinned,
        archived=row.archived,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        folder_id=row.folder_id,
        temporary=row.temporary,
    )


def folder_record(row: Folder, conversations: int = 0) -> FolderRecord:
    return FolderRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        preset_id=row.preset_id,
        created_at=as_utc(row.created_at),
        conversations=conversations,
    )


def with_files(rows: Sequence[Sequence[Any]]) -> list[int]:
    """The ids of the messages among `rows` (MESSAGE_COLUMNS first) that have files."""
    return [row[0] for row in rows if row[FILE_COUNT_AT]]


def message_from_row(
    row: Sequence[Any], files: Mapping[int, tuple[AttachmentRecord, ...]] = NO_FILES
) -> MessageRecord:
    """A record from a row that begins with MESSAGE_COLUMNS, with its files from `files`."""
    values = list(row[:FILE_COUNT_AT])
    values[_CREATED_AT] = as_utc(values[_CREATED_AT])
    values.insert(_ATTACHMENTS_AT, files.get(values[0], ()) if files else ())
    return MessageRecord(*values)


def message_record(row: Message, attachments: tuple[AttachmentRecord, ...] = ()) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        parent_id=row.parent_id,
        role=row.role,
        content=row.content,
        status=row.status,
        created_at=as_utc(row.created_at),
        finish_reason=row.finish_reason,
        model=row.model,
        request_params=row.request_params,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        total_tokens=row.total_tokens,
        first_token_ms=row.first_token_ms,
        total_ms=row.total_ms,
        response_id=row.response_id,
        request_id=row.request_id,
        error=row.error,
        error_code=row.error_code,
        error_params=row.error_params,
        owner_process=row.owner_process,
        tool_calls=row.tool_calls,
        tool_call_id=row.tool_call_id,
        system_fingerprint=row.system_fingerprint,
        choice_group=row.choice_group,
        choice_index=row.choice_index,
        attachments=attachments,
        context_start_id=row.context_start_id,
    )


def preset_record(row: Preset, owner: str) -> PresetRecord:
    return PresetRecord(
        id=row.id,
        user_id=row.user_id,
        owner=owner,
        name=row.name,
        shared=row.shared,
        settings=dict(row.settings or {}),
        updated_at=as_utc(row.updated_at),
    )
