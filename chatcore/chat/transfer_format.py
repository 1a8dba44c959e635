"""AnyChat's own export format: one conversation as a JSON document (every branch, its
settings, usage, and the visible thread in the API's chat form), and back from JSON into a
conversation to import (Markdown, to read, is chatcore/chat/transfer_markdown.py).

Message ids in a document are its own (1, 2, 3… in tree order: each branch written out before
the next), so exporting, importing and exporting again gives the same document but for the
conversation's id and the export time.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chatcore.attachments import resolve_images
from chatcore.chat.thread import api_messages
from chatcore.chat.transfer_report import clean_json, clean_text, reason
from chatcore.i18n import N_
from storage import (
    AttachmentKind,
    ConversationTree,
    ImportedConversation,
    ImportedMessage,
    MessageRecord,
    MessageStatus,
    NewAttachment,
    Role,
)

FORMAT = "anychat.conversation"
ARCHIVE_FORMAT = "anychat.export"
MANIFEST = "manifest.json"  # in the zip of all conversations, beside conversations/, markdown/
VERSION = 1
TITLE_MAX = 200  # conversations.title
INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL
ROLES = frozenset(Role)
STATUSES = frozenset(MessageStatus)
KINDS = frozenset(kind.value for kind in AttachmentKind)
# A message's optional text fields, and the most characters each column holds (None: no limit).
_TEXT_FIELDS = {
    "finish_reason": 40,
    "model": 200,
    "response_id": 200,
    "request_id": 200,
    "system_fingerprint": 100,
    "error": None,
    "error_code": 60,
    "tool_call_id": 100,
}
_NUMBER_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "total_ms",
    "choice_index",
)
_OBJECT_FIELDS = ("request_params", "error_params")
_OPTIONAL_ORDER = (
    "model",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "total_ms",
    "request_params",
    "response_id",
    "request_id",
    "system_fingerprint",
    "error",
    "error_code",
    "error_params",
    "tool_calls",
    "tool_call_id",
    "choice_index",
)

FIELD_INVALID = N_("Its field “{field}” is missing or not valid.")
UNKNOWN_PARENT = N_("A message names a parent, “{parent}”, that is not in the conversation.")
PARENT_LOOP = N_("Its messages' parent links go round in a loop.")
DUPLICATE_ID = N_("Two of its messages have the same id, “{id}”.")
NEWER_FORMAT = N_("It was written by a newer AnyChat (format version {version}).")
NOT_AN_OBJECT = N_("It is not a JSON object.")


# --- export --------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def tree_order(messages: list[MessageRecord]) -> list[MessageRecord]:
    """Every message, each branch written out before the next (children by id), parents
    first: the order a reader follows, and the same before and after an import."""
    present = {message.id for message in messages}
    children: dict[int | None, list[MessageRecord]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: m.id):
        parent = message.parent_id if message.parent_id in present else None
        children[parent].append(message)
    ordered: list[MessageRecord] = []
    stack = list(reversed(children[None]))
    while stack:
        message = stack.pop()
        ordered.append(message)
        stack.extend(reversed(children[message.id]))
    return ordered


def visible_thread(tree: ConversationTree) -> list[MessageRecord]:
    """From the root down to the conversation's active leaf."""
    by_id = {message.id: message for message in tree.messages}
    path: list[MessageRecord] = []
    current = by_id.get(tree.conversation.active_leaf_id or 0)
    while current is not None and len(path) <= len(by_id):
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    path.reverse()
    return path


def system_prompt(settings: Mapping[str, Any]) -> str:
    prompt = settings.get("system_prompt")
    return prompt if isinstance(prompt, str) else ""


def _usage(messages: list[MessageRecord]) -> dict[str, int]:
    replies = [m for m in messages if m.role == Role.ASSISTANT]
    return {
        "prompt_tokens": sum(m.prompt_tokens or 0 for m in replies),
        "completion_tokens": sum(m.completion_tokens or 0 for m in replies),
        "total_tokens": sum(m.total_tokens or 0 for m in replies),
        "replies": len(replies),
    }


def _attachments(message: MessageRecord, data: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """A question's files, each with its bytes in base64: an export carries everything."""
    files = []
    for item in message.attachments:
        entry: dict[str, Any] = {"name": item.name, "media_type": item.media_type}
        entry["kind"] = item.kind.value
        for name in ("width", "height", "pages", "text"):
            value = getattr(item, name)
            if value is not None:
                entry[name] = value
        entry["sha256"] = item.sha256
        entry["data"] = base64.b64encode(data.get(item.sha256, b"")).decode("ascii")
        files.append(entry)
    return files


def conversation_document(
    tree: ConversationTree,
    exported_at: datetime,
    load: Callable[[set[str]], dict[str, bytes]] = lambda shas: {},
) -> dict[str, Any]:
    """One conversation as our JSON document (see the module's docstring). `load` reads the
    files' bytes by content hash."""
    shas = {item.sha256 for message in tree.messages for item in message.attachments}
    data = load(shas) if shas else {}
    conversation = tree.conversation
    ordered = tree_order(tree.messages)
    number = {message.id: index for index, message in enumerate(ordered, start=1)}
    messages = []
    for message in ordered:
        entry: dict[str, Any] = {
            "id": number[message.id],
            "parent": number.get(message.parent_id) if message.parent_id is not None else None,
            "role": message.role,
            "content": message.content,
            "status": message.status,
            "created_at": iso(message.created_at),
        }
        for name in _OPTIONAL_ORDER:
            value = getattr(message, name)
            if value is not None:
                entry[name] = value
        if message.choice_group is not None and message.choice_group in number:
            entry["choice_group"] = number[message.choice_group]
        if message.attachments:
            entry["attachments"] = _attachments(message, data)
        messages.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso(exported_at),
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "settings": conversation.settings,
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        "active_leaf": number.get(conversation.active_leaf_id or 0),
        "usage": _usage(tree.messages),
        "messages": messages,
        "openai_messages": resolve_images(
            api_messages(visible_thread(tree), system_prompt(conversation.settings)),
            lambda wanted: {sha: data[sha] for sha in wanted if sha in data},
        ),
    }


# --- import --------------------------------------------------------------------------------


def _text(value: Any, name: str, limit: int | None = None, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    return clean_text(value)


def _number(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    return value


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise reason("import_field_invalid", FIELD_INVALID, field=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    return value


def _object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    cleaned: dict[str, Any] = clean_json(value)
    return cleaned


def _calls(value: Any, name: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(call, dict) for call in value):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    cleaned: list[dict[str, Any]] = clean_json(value)
    return cleaned


def _message_id(value: Any, name: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise reason("import_field_invalid", FIELD_INVALID, field=name)
    return value


def _tree_order(ids: list[int | str], parents: list[int | str | None]) -> list[int]:
    """Positions of the messages, parents first, siblings in file order; refuses unknown
    parents and loops (a message that no root reaches)."""
    position: dict[int | str, int] = {}
    for index, message_id in enumerate(ids):
        if message_id in position:
            raise reason("import_duplicate_message", DUPLICATE_ID, id=str(message_id))
        position[message_id] = index
    children: dict[int | None, list[int]] = defaultdict(list)
    for index, parent in enumerate(parents):
        if parent is not None and parent not in position:
            raise reason("import_unknown_parent", UNKNOWN_PARENT, parent=str(parent))
        children[None if parent is None else position[parent]].append(index)
    order: list[int] = []
    stack = list(reversed(children[None]))
    while stack:
        index = stack.pop()
        order.append(index)
        stack.extend(reversed(children[index]))
    if len(order) != len(ids):
        raise reason("import_parent_loop", PARENT_LOOP)
    return order


def read_conversation(document: Any, default_model: str) -> ImportedConversation:
    """A conversation from our JSON document, checked whole; Unreadable says what is wrong."""
    if not isinstance(document, dict):
        raise reason("import_not_an_object", NOT_AN_OBJECT)
    version = document.get("version", VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise reason("import_newer_format", NEWER_FORMAT, version=version)
    raw_messages = document.get("messages")
    if not isinstance(raw_messages, list):
        raise reason("import_field_invalid", FIELD_INVALID, field="messages")
    for index, raw in enumerate(raw_messages):
        if not isinstance(raw, dict):
            raise reason("import_field_invalid", FIELD_INVALID, field=f"messages[{index}]")
    ids = [_message_id(raw.get("id"), f"messages[{i}].id") for i, raw in enumerate(raw_messages)]
    parents: list[int | str | None] = [
        None if raw.get("parent") is None else _message_id(raw["parent"], f"messages[{i}].parent")
        for i, raw in enumerate(raw_messages)
    ]
    order = _tree_order(ids, parents)
    key = {message_id: index for index, message_id in enumerate(ids)}
    messages = [_read_message(raw_messages[i], i, key) for i in order]
    leaf = document.get("active_leaf")
    if leaf is not None and (isinstance(leaf, bool) or leaf not in key):
        raise reason("import_field_invalid", FIELD_INVALID, field="active_leaf")
    title = _text(document.get("title"), "title", required=True) or ""
    created_at = _time(document.get("created_at"), "created_at")
    return ImportedConversation(
        title=title[:TITLE_MAX],
        model=_text(document.get("model") or default_model, "model", 200, required=True) or "",
        settings=_object(document.get("settings") or {}, "settings") or {},
        created_at=created_at,
        updated_at=_time(document.get("updated_at", created_at.isoformat()), "updated_at"),
        messages=messages,
        active_leaf_key=None if leaf is None else key[leaf],
        pinned=_flag(document.get("pinned"), "pinned"),
        archived=_flag(document.get("archived"), "archived"),
    )


def _read_attachments(value: Any, where: str) -> tuple[NewAttachment, ...]:
    """An exported question's files, back as they were stored (their bytes are checked
    against their kind, not re-encoded: an export re-imported is identical)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise reason("import_field_invalid", FIELD_INVALID, field=f"{where}.attachments")
    files = []
    for position, raw in enumerate(value):
        at = f"{where}.attachments[{position}]"
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            raise reason("import_field_invalid", FIELD_INVALID, field=f"{at}.kind")
        try:
            data = base64.b64decode(str(raw.get("data", "")), validate=True)
        except (ValueError, binascii.Error):
            raise reason("import_field_invalid", FIELD_INVALID, field=f"{at}.data") from None
        files.append(
            NewAttachment(
                name=_text(raw.get("name"), f"{at}.name", 255, required=True) or "",
                media_type=_text(raw.get("media_type"), f"{at}.media_type", 100, required=True)
                or "",
                kind=AttachmentKind(raw["kind"]),
                data=data,
                width=_number(raw.get("width"), f"{at}.width"),
                height=_number(raw.get("height"), f"{at}.height"),
                pages=_number(raw.get("pages"), f"{at}.pages"),
                text=_text(raw.get("text"), f"{at}.text"),
            )
        )
    return tuple(files)


def _read_message(raw: dict[str, Any], index: int, key: dict[int | str, int]) -> ImportedMessage:
    where = f"messages[{index}]"
    role = raw.get("role")
    if role not in ROLES:
        raise reason("import_field_invalid", FIELD_INVALID, field=f"{where}.role")
    status = raw.get("status", MessageStatus.COMPLETE)
    if status not in STATUSES:
        raise reason("import_field_invalid", FIELD_INVALID, field=f"{where}.status")
    if status == MessageStatus.STREAMING:  # nobody is writing it any more
        status = MessageStatus.STOPPED
    group = raw.get("choice_group")
    if group is not None and (isinstance(group, bool) or group not in key):
        raise reason("import_field_invalid", FIELD_INVALID, field=f"{where}.choice_group")
    parent = raw.get("parent")
    values: dict[str, Any] = {
        name: _text(raw.get(name), f"{where}.{name}", limit) for name, limit in _TEXT_FIELDS.items()
    }
    values |= {name: _number(raw.get(name), f"{where}.{name}") for name in _NUMBER_FIELDS}
    values |= {name: _object(raw.get(name), f"{where}.{name}") for name in _OBJECT_FIELDS}
    return ImportedMessage(
        attachments=_read_attachments(raw.get("attachments"), where),
        key=index,
        parent_key=None if parent is None else key[parent],
        role=str(role),
        content=_text(raw.get("content", ""), f"{where}.content", required=True) or "",
        status=str(status),
        created_at=_time(raw.get("created_at"), f"{where}.created_at"),
        tool_calls=_calls(raw.get("tool_calls"), f"{where}.tool_calls"),
        choice_group_key=None if group is None else key[group],
        **values,
    )
