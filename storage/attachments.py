"""Files of user messages: rows per message, bytes once per content hash.

A message's files are rows of `message_attachments` naming a blob by its SHA-256; the same
bytes sent twice, an edited question keeping its files, a copied conversation all share one
blob. Readers fetch the rows of the messages they read in one query, and only when some
message has files (`messages.attachment_count`); the bytes are read only to be sent or shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import AttachmentBlob, Message, MessageAttachment, utcnow
from storage.records import AttachmentKind, AttachmentRecord, NewAttachment

BLOBS = cast(Table, AttachmentBlob.__table__)
ATTACHMENTS = cast(Table, MessageAttachment.__table__)
_MESSAGES = cast(Table, Message.__table__)
# An IN list every database takes: SQLite's default limit is 32,766 parameters.
IDS_PER_QUERY = 10_000

Files = dict[int, tuple[AttachmentRecord, ...]]

# AttachmentRecord's fields in order, each a column of the same name.
_RECORD_COLUMNS = tuple(ATTACHMENTS.c[name] for name in AttachmentRecord.__dataclass_fields__)
_KIND = list(AttachmentRecord.__dataclass_fields__).index("kind")
_INSERTED = [name for name in AttachmentRecord.__dataclass_fields__ if name != "id"]
_ORDER = (ATTACHMENTS.c.message_id, ATTACHMENTS.c.position, ATTACHMENTS.c.id)
_ADD_ROWS = insert(ATTACHMENTS).returning(ATTACHMENTS.c.id, sort_by_parameter_order=True)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attachment_record(row: Sequence[Any]) -> AttachmentRecord:
    values = list(row[: len(_RECORD_COLUMNS)])
    values[_KIND] = AttachmentKind(values[_KIND])
    return AttachmentRecord(*values)


def store_files(
    session: Session,
    message_id: int,
    files: Sequence[NewAttachment],
    *,
    kept: Sequence[AttachmentRecord] = (),
) -> tuple[AttachmentRecord, ...]:
    """Attach `kept` (rows of another message, same blobs) then `files` to `message_id`,
    numbered in that order; a blob is written only if no row of that content exists."""
    hashes = [content_hash(file.data) for file in files]
    _store_blobs(session, {sha: file.data for sha, file in zip(hashes, files, strict=True)})
    unsaved = [replace(old, id=0, message_id=message_id, position=n) for n, old in enumerate(kept)]
    unsaved += [
        AttachmentRecord(
            id=0,
            message_id=message_id,
            position=position,
            name=file.name,
            media_type=file.media_type,
            kind=AttachmentKind(file.kind),
            sha256=sha,
            size=len(file.data),
            width=file.width,
            height=file.height,
            pages=file.pages,
            text=file.text,
        )
        for position, (file, sha) in enumerate(zip(files, hashes, strict=True), start=len(kept))
    ]
    if not unsaved:
        return ()
    values = [_row_values(record) for record in unsaved]
    ids = session.execute(_ADD_ROWS, values).scalars().all()
    return tuple(replace(record, id=new_id) for new_id, record in zip(ids, unsaved, strict=True))


def store_imported_files(
    session: Session, files_by_message: Sequence[tuple[int, Sequence[NewAttachment]]]
) -> None:
    """Attach each message's files (an import's): every blob, then every row, in one
    multi-row INSERT each, whatever the number of messages."""
    blobs: dict[str, bytes] = {}
    values: list[dict[str, Any]] = []
    for message_id, files in files_by_message:
        for position, file in enumerate(files):
            sha = content_hash(file.data)
            blobs.setdefault(sha, file.data)
            values.append(
                {
                    "message_id": message_id,
                    "position": position,
                    "name": file.name,
                    "media_type": file.media_type,
                    "kind": AttachmentKind(file.kind).value,
                    "sha256": sha,
                    "size": len(file.data),
                    "width": file.width,
                    "height": file.height,
                    "pages": file.pages,
                    "text": file.text,
                }
            )
    _store_blobs(session, blobs)
    if values:
        session.execute(insert(ATTACHMENTS), values)


def _row_values(record: AttachmentRecord) -> dict[str, Any]:
    """The columns of a row to insert: the record's fields but its id, the kind as text."""
    values = {name: getattr(record, name) for name in _INSERTED}
    values["kind"] = record.kind.value
    return values


def _store_blobs(session: Session, blobs: dict[str, bytes]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: two processes storing the same file at once both
    succeed, and one row results."""
    if not blobs:
        return
    now = utcnow()
    rows = [
        {"sha256": sha, "size": len(data), "data": data, "created_at": now}
        for sha, data in blobs.items()
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(BLOBS).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        session.execute(sqlite.insert(BLOBS).on_conflict_do_nothing(), rows)
    else:
        present = set(session.scalars(select(BLOBS.c.sha256).where(BLOBS.c.sha256.in_(blobs))))
        missing = [row for row in rows if row["sha256"] not in present]
        if missing:
            session.execute(insert(BLOBS), missing)


def files_of_message(
    session: Session, message_id: int, conversation_id: str | None = None
) -> tuple[AttachmentRecord, ...]:
    """One message's files; with `conversation_id`, none unless the message is in it."""
    query = select(*_RECORD_COLUMNS).where(ATTACHMENTS.c.message_id == message_id)
    if conversation_id is not None:
        query = query.join(_MESSAGES, _MESSAGES.c.id == ATTACHMENTS.c.message_id).where(
            _MESSAGES.c.conversation_id == conversation_id
        )
    rows = session.execute(query.order_by(*_ORDER)).all()
    return tuple(attachment_record(row) for row in rows)


def files_of_messages(session: Session, message_ids: Collection[int]) -> Files:
    """The files of `message_ids` (the ones with `attachment_count` above zero), by message,
    each message's in order. One query, bar a few thousand messages with files."""
    found: dict[int, list[AttachmentRecord]] = {}
    ordered = sorted(set(message_ids))
    for start in range(0, len(ordered), IDS_PER_QUERY):
        rows = session.execute(
            select(*_RECORD_COLUMNS)
            .where(ATTACHMENTS.c.message_id.in_(ordered[start : start + IDS_PER_QUERY]))
            .order_by(*_ORDER)
        ).all()
        _collect(found, rows)
    return {message_id: tuple(files) for message_id, files in found.items()}


def files_in_conversations(session: Session, conversation_ids: Collection[str]) -> Files:
    """Every file of every message of `conversation_ids`, by message (an export's batch)."""
    found: dict[int, list[AttachmentRecord]] = {}
    rows = session.execute(
        select(*_RECORD_COLUMNS)
        .join(_MESSAGES, _MESSAGES.c.id == ATTACHMENTS.c.message_id)
        .where(_MESSAGES.c.conversation_id.in_(list(conversation_ids)))
        .order_by(*_ORDER)
    ).all()
    _collect(found, rows)
    return {message_id: tuple(files) for message_id, files in found.items()}


def _collect(found: dict[int, list[AttachmentRecord]], rows: Iterable[Row[Any]]) -> None:
    for row in rows:
        record = attachment_record(row)
        found.setdefault(record.message_id, []).append(record)


def blob_data(session: Session, hashes: Collection[str]) -> dict[str, bytes]:
    """The bytes of each stored hash among `hashes`; unknown ones are left out."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    rows = session.execute(select(BLOBS.c.sha256, BLOBS.c.data).where(BLOBS.c.sha256.in_(wanted)))
    return {sha: bytes(data) for sha, data in rows}


def prune_unreferenced_blobs(session: Session) -> None:
    """Delete the blobs no attachment row refers to any more. Called in the transaction that
    deleted conversations (their rows went by cascade), so files never outlive them.

    Reads the blobs' primary-key index and the rows' sha256 index only, never the bytes.
    """
    referenced = exists().where(ATTACHMENTS.c.sha256 == BLOBS.c.sha256)
    session.execute(BLOBS.delete().where(~referenced))


def file_with_data(
    session: Session, attachment_id: int, *where: ColumnElement[bool]
) -> tuple[AttachmentRecord, bytes] | None:
    """One file and its bytes, if its message (joined as the messages table) meets `where`."""
    found = session.execute(
        select(*_RECORD_COLUMNS, BLOBS.c.data)
        .join(_MESSAGES, _MESSAGES.c.id == ATTACHMENTS.c.message_id)
        .join(BLOBS, BLOBS.c.sha256 == ATTACHMENTS.c.sha256)
        .where(ATTACHMENTS.c.id == attachment_id, *where)
    ).first()
    if found is None:
        return None
    return attachment_record(found), bytes(found[-1])
