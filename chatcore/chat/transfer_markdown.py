"""A conversation as Markdown, to read: the visible thread, who said what, tool calls and
their results, and replies that stopped or failed, its headings in the reader's language;
and file names made from titles.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chatcore.chat.transfer_format import system_prompt, visible_thread
from chatcore.chat.upstream_errors import stored_reply_error
from chatcore.i18n import N_, Translator
from storage import ConversationTree, MessageRecord, MessageStatus, Role

# Markdown: headings and notes, in the reader's language.
MD_USER = N_("User")
MD_FILES = N_("Attached files: {names}")
MD_ASSISTANT = N_("Assistant")
MD_TOOL_RESULT = N_("Tool result")
MD_SYSTEM_PROMPT = N_("System prompt")
MD_MODEL = N_("Model: {model}")
MD_CREATED = N_("Created: {when}")
MD_EXPORTED = N_("Exported from AnyChat: {when}")
MD_TOOL_CALL = N_("Tool call: {name}")
MD_STOPPED = N_("The reply was stopped before it finished.")
MD_STREAMING = N_("The reply was still being written when this was exported.")
MD_ERROR = N_("The reply failed: {error}")

_UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10)]
)
FILE_STEM_MAX = 60


def _fenced(text: str, language: str = "") -> str:
    """`text` in a code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def conversation_markdown(
    tree: ConversationTree, translate: Translator, exported_at: datetime
) -> str:
    """The visible thread for reading: who said what, tool calls and results, failures."""
    say: Callable[..., str] = translate.gettext
    conversation = tree.conversation
    blocks = [
        f"# {' '.join(conversation.title.split()) or '—'}",
        "\n".join(
            [
                f"- {say(MD_MODEL, model=conversation.model)}",
                f"- {say(MD_CREATED, when=translate.format_datetime(conversation.created_at))}",
                f"- {say(MD_EXPORTED, when=translate.format_datetime(exported_at))}",
            ]
        ),
    ]
    prompt = system_prompt(conversation.settings)
    if prompt.strip():
        blocks += [f"## {say(MD_SYSTEM_PROMPT)}", prompt]
    for message in visible_thread(tree):
        blocks += _markdown_message(message, translate)
    return "\n\n".join(block.strip("\n") for block in blocks if block.strip()) + "\n"


def _markdown_message(message: MessageRecord, translate: Translator) -> list[str]:
    """The message's blocks: its heading, its text, and what else it carries."""
    say = translate.gettext
    if message.role == Role.USER:
        blocks = [f"## {say(MD_USER)}", message.content]
        if message.attachments:
            names = ", ".join(f"`{item.name.replace('`', '')}`" for item in message.attachments)
            blocks.append(f"_{say(MD_FILES, names=names)}_")
        return blocks
    if message.role == Role.TOOL:
        answering = f" · {message.tool_call_id}" if message.tool_call_id else ""
        return [f"## {say(MD_TOOL_RESULT)}{answering}", _fenced(message.content)]
    if message.role == Role.SYSTEM:
        return [f"## {say(MD_SYSTEM_PROMPT)}", message.content]
    model = f" · {message.model}" if message.model else ""
    blocks = [f"## {say(MD_ASSISTANT)}{model}", message.content]
    for call in message.tool_calls or []:
        found = call.get("function")
        function: dict[str, Any] = found if isinstance(found, dict) else {}
        name = str(function.get("name", ""))
        blocks += [
            f"**{say(MD_TOOL_CALL, name=name)}**",
            _fenced(str(function.get("arguments", "")), "json"),
        ]
    error = stored_reply_error(message.error, message.error_code, message.error_params)
    if message.status == MessageStatus.ERROR and error is not None:
        blocks.append(f"> {say(MD_ERROR, error=translate.explain(error))}")
    elif message.status == MessageStatus.STOPPED:
        blocks.append(f"_{say(MD_STOPPED)}_")
    elif message.status == MessageStatus.STREAMING:
        blocks.append(f"_{say(MD_STREAMING)}_")
    return blocks


def file_stem(title: str, fallback: str = "conversation") -> str:
    """A file name (without extension) from a title, safe on every common system and still
    readable in its own script: Chinese stays Chinese; what a file system or a shell reads
    specially, control and invisible formatting characters go."""
    kept = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in title
    )
    stem = " ".join(_UNSAFE_IN_NAMES.sub(" ", kept).split()).strip(" .")
    stem = stem[:FILE_STEM_MAX].rstrip(" .")
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    return stem or fallback
