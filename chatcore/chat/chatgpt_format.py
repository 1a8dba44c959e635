"""ChatGPT's data export (`conversations.json`, alone or in its zip) read into conversations.

Each ChatGPT conversation is a tree, `mapping` {node id: {message, parent, children}}, with
`current_node` the end of the thread its owner last saw. Its nodes become our messages with
their branches: nodes with no message, system messages, hidden ones (custom instructions,
reasoning, the empty root) and empty ones are left out, their children attached to the nearest
node kept above them. Text is kept as written; what is not text (an image, a voice clip, the
output of code ChatGPT ran) becomes a short placeholder such as "[image]", since the files
themselves are not imported.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from chatcore.chat.thread import title_from
from chatcore.chat.transfer_format import FIELD_INVALID, NOT_AN_OBJECT, PARENT_LOOP, TITLE_MAX
from chatcore.chat.transfer_report import clean_text, reason
from chatcore.i18n import N_, Translator
from storage import ImportedConversation, ImportedMessage, MessageStatus, Role

NO_MESSAGES = N_("It has no messages to import.")
IMAGE = N_("[image]")
AUDIO = N_("[audio]")
VIDEO = N_("[video]")
ATTACHMENT = N_("[attachment]")
CODE_OUTPUT = N_("[code execution output]")
OTHER_CONTENT = N_("[{kind}]")

# Content that is not part of the conversation a person reads.
_HIDDEN_CONTENT = frozenset(
    {"user_editable_context", "model_editable_context", "thoughts", "reasoning_recap"}
)
_PART_PLACEHOLDERS = {
    "image_asset_pointer": IMAGE,
    "audio_asset_pointer": AUDIO,
    "real_time_user_audio_video_asset_pointer": AUDIO,
    "video_container_asset_pointer": VIDEO,
}
_FINISH_REASONS = {"stop": "stop", "max_tokens": "length"}
MODEL_MAX = 200


def looks_like_chatgpt(document: Any) -> bool:
    """A list of conversations with `mapping` trees (or one such conversation)."""
    if isinstance(document, dict):
        return "mapping" in document
    return isinstance(document, list) and any(
        isinstance(item, dict) and "mapping" in item for item in document[:100]
    )


def _object(holder: dict[str, Any], name: str) -> dict[str, Any]:
    value = holder.get(name)
    return value if isinstance(value, dict) else {}


def _moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _part_text(part: Any, translate: Translator) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        kind = part.get("content_type")
        if kind == "audio_transcription" and isinstance(part.get("text"), str):
            return str(part["text"])
        return translate.gettext(_PART_PLACEHOLDERS.get(str(kind), ATTACHMENT))
    return ""


def message_text(content: Any, translate: Translator) -> str:
    """What a message's `content` reads as: its text, with placeholders for the rest."""
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    found = content.get("parts")
    parts: list[Any] = found if isinstance(found, list) else []
    if kind == "text":
        return "\n".join(part for part in parts if isinstance(part, str))
    if kind == "multimodal_text":
        texts = (_part_text(part, translate) for part in parts)
        return "\n".join(text for text in texts if text)
    if kind == "code":
        code = content.get("text") if isinstance(content.get("text"), str) else ""
        language = content.get("language")
        tag = language if isinstance(language, str) and language.isalnum() else ""
        tag = "" if tag == "unknown" else tag
        fence = "````" if "```" in str(code) else "```"
        return f"{fence}{tag}\n{code}\n{fence}" if code else ""
    if kind == "execution_output":
        return translate.gettext(CODE_OUTPUT)
    if kind in _HIDDEN_CONTENT:
        return ""
    return translate.gettext(OTHER_CONTENT, kind=str(kind)[:40])


def _kept(message: Any, translate: Translator) -> dict[str, Any] | None:
    """The fields of a message to keep, or None for one left out."""
    if not isinstance(message, dict):
        return None
    role = _object(message, "author").get("role")
    metadata = _object(message, "metadata")
    if role not in ("user", "assistant", "tool"):
        return None  # system messages, and whatever else ChatGPT may add
    if metadata.get("is_visually_hidden_from_conversation") is True or message.get("weight") == 0:
        return None
    text = clean_text(message_text(message.get("content"), translate))
    if not text.strip():
        return None
    finish_type = _object(metadata, "finish_details").get("type")
    slug = metadata.get("model_slug")
    return {
        # A tool's output (code ran, an image made) reads as part of the answer.
        "role": Role.USER if role == "user" else Role.ASSISTANT,
        "content": text,
        "status": MessageStatus.STOPPED if finish_type == "interrupted" else MessageStatus.COMPLETE,
        "finish_reason": (
            _FINISH_REASONS.get(finish_type, clean_text(finish_type)[:40])
            if isinstance(finish_type, str) and finish_type != "interrupted"
            else None
        ),
        "model": (
            clean_text(slug)[:MODEL_MAX]
            if isinstance(slug, str) and slug and role != "user"
            else None
        ),
        "created_at": _moment(message.get("create_time")),
    }


def read_conversation(raw: Any, translate: Translator, default_model: str) -> ImportedConversation:
    """One ChatGPT conversation, checked whole; Unreadable says what is wrong."""
    if not isinstance(raw, dict):
        raise reason("import_not_an_object", NOT_AN_OBJECT)
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise reason("import_field_invalid", FIELD_INVALID, field="mapping")
    children: dict[str | None, list[str]] = defaultdict(list)
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise reason("import_field_invalid", FIELD_INVALID, field=f"mapping.{node_id}")
        parent = node.get("parent")
        children[parent if isinstance(parent, str) and parent in mapping else None].append(node_id)
    started = _moment(raw.get("create_time")) or datetime.now(UTC)
    conversation_model = raw.get("default_model_slug")
    messages, kept_at = _walk(mapping, children, started, translate)
    if not messages:
        raise reason("import_no_messages", NO_MESSAGES)
    leaf = _active_leaf(mapping, raw.get("current_node"), kept_at, messages)
    by_key = {message.key: message for message in messages}
    path_models = []
    current = by_key.get(leaf) if leaf is not None else None
    while current is not None:
        path_models.append(current.model)
        current = by_key.get(current.parent_key) if current.parent_key is not None else None
    model = next((m for m in path_models if m), None)
    if model is None and isinstance(conversation_model, str) and conversation_model:
        model = clean_text(conversation_model)[:MODEL_MAX]
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        first = next((m.content for m in messages if m.role == Role.USER), messages[0].content)
        title = title_from(first)
    updated = _moment(raw.get("update_time")) or max(m.created_at for m in messages)
    pinned_time = raw.get("pinned_time")
    return ImportedConversation(
        title=clean_text(title)[:TITLE_MAX],
        model=model or default_model,
        settings={},
        created_at=started,
        updated_at=max(updated, started),
        messages=messages,
        active_leaf_key=leaf,
        pinned=raw.get("is_starred") is True or _moment(pinned_time) is not None,
        archived=raw.get("is_archived") is True,
    )


def _walk(
    mapping: dict[str, Any],
    children: dict[str | None, list[str]],
    started: datetime,
    translate: Translator,
) -> tuple[list[ImportedMessage], dict[str, int]]:
    """The kept messages, parents first, and the key each kept node got. Siblings go oldest
    first (an edited question after the original), each attached to the nearest kept node
    above it; a node with no time takes the time of the one above."""

    def when(node_id: str) -> float:
        message = mapping[node_id].get("message")
        created = message.get("create_time") if isinstance(message, dict) else None
        return float(created) if isinstance(created, int | float) else float("inf")

    messages: list[ImportedMessage] = []
    kept_at: dict[str, int] = {}
    # (node, key of the nearest kept node above it, the time it inherits)
    stack: list[tuple[str, int | None, datetime]] = [
        (node_id, None, started) for node_id in reversed(sorted(children[None], key=when))
    ]
    seen = 0
    while stack:
        node_id, above, inherited = stack.pop()
        seen += 1
        fields = _kept(mapping[node_id].get("message"), translate)
        if fields is not None:
            created = fields.pop("created_at") or inherited
            key = len(messages)
            messages.append(
                ImportedMessage(key=key, parent_key=above, created_at=created, **fields)
            )
            kept_at[node_id] = key
            above, inherited = key, created
        for child in reversed(sorted(children.get(node_id, []), key=when)):
            stack.append((child, above, inherited))
    if seen != len(mapping):
        raise reason("import_parent_loop", PARENT_LOOP)
    return messages, kept_at


def _active_leaf(
    mapping: dict[str, Any],
    current_node: Any,
    kept_at: dict[str, int],
    messages: list[ImportedMessage],
) -> int | None:
    """The kept node at or above `current_node`; else the newest message."""
    node = current_node if isinstance(current_node, str) else None
    for _ in range(len(mapping)):
        if node is None or node not in mapping:
            break
        if node in kept_at:
            return kept_at[node]
        parent = mapping[node].get("parent")
        node = parent if isinstance(parent, str) else None
    if not messages:
        return None
    return max(messages, key=lambda m: (m.created_at, m.key)).key
