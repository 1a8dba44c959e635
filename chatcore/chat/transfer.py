"""Export and import of conversations: one as Markdown or JSON, all of a person's as a zip, and
back in from our JSON or zip or from ChatGPT's data export.

An import is read and checked whole before anything is written, then written in one
transaction, into a new folder named for it: every readable conversation lands, complete,
and the report lists the others with the reason for each. A file too large, a zip that would
unpack beyond the limit (whatever its headers claim), or a file of no format we read is
refused with a sentence saying so, and nothing is written. Temporary chats are never
exported.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chatcore.chat import chatgpt_format, transfer_format
from chatcore.chat.import_files import Source, read_upload
from chatcore.chat.transfer_format import ARCHIVE_FORMAT, MANIFEST, conversation_document
from chatcore.chat.transfer_markdown import conversation_markdown, file_stem
from chatcore.chat.transfer_report import (
    BrokenConversation,
    ImportReport,
    Unreadable,
)
from chatcore.chat.use_cases import CONVERSATION_GONE
from chatcore.config import Settings
from chatcore.errors import ConversationNotFound, Sentence
from chatcore.i18n import N_, Translator, translator
from storage import ConversationTree, ImportedConversation
from storage.transfer import TransferRepository

FOLDER_NAMES = {
    "chatgpt": N_("ChatGPT import {when}"),
    "anychat": N_("AnyChat import {when}"),
}
UNREADABLE = N_("It could not be read.")


def dump_json(document: dict[str, Any]) -> str:
    """A document as JSON a person can read in any language: characters as they are (UTF-8,
    not \\u escapes), a field per line, and a list's items (messages) one per line, each
    written by json's C encoder: an indented dump is pure Python, several times slower."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    fields = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {compact(item)}" for item in value)
            fields.append(f"  {compact(key)}: [\n{items}\n  ]")
        else:
            fields.append(f"  {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


class TransferService:
    def __init__(
        self,
        repository: TransferRepository,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.settings = settings
        self._now = clock

    # --- export ----------------------------------------------------------------------------

    def _tree(self, user_id: int, conversation_id: str) -> ConversationTree:
        tree = self.repository.conversation_tree(user_id, conversation_id)
        if tree is None:
            raise ConversationNotFound(CONVERSATION_GONE)
        return tree

    def export_json(self, user_id: int, conversation_id: str) -> dict[str, Any]:
        """Every branch, the settings, usage per reply, and the visible thread in the API's
        chat form (chatcore/chat/transfer_format.py)."""
        tree = self._tree(user_id, conversation_id)
        return conversation_document(tree, self._now(), self.repository.attachment_data)

    def export_json_text(self, user_id: int, conversation_id: str) -> str:
        return dump_json(self.export_json(user_id, conversation_id))

    def export_markdown(
        self, user_id: int, conversation_id: str, *, translate: Translator | None = None
    ) -> str:
        """The visible thread, its headings in `translate`'s language (English by default)."""
        tree = self._tree(user_id, conversation_id)
        return conversation_markdown(tree, translate or translator(), self._now())

    def export_all(self, user_id: int, *, translate: Translator | None = None) -> bytes:
        """A zip of every conversation of the person's but temporary ones: a JSON file and a
        Markdown file each (conversations/, markdown/), and manifest.json listing them. Names
        are UTF-8, so Chinese titles stay Chinese."""
        translate = translate or translator()
        now = self._now()
        listed: list[dict[str, Any]] = []
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for number, tree in enumerate(self.repository.conversation_trees(user_id), start=1):
                stem = f"{number:04d} {file_stem(tree.conversation.title)}"
                document = conversation_document(tree, now, self.repository.attachment_data)
                archive.writestr(f"conversations/{stem}.json", dump_json(document))
                archive.writestr(f"markdown/{stem}.md", conversation_markdown(tree, translate, now))
                listed.append(
                    {
                        "title": tree.conversation.title,
                        "json": f"conversations/{stem}.json",
                        "markdown": f"markdown/{stem}.md",
                        "messages": len(tree.messages),
                        "created_at": document["created_at"],
                        "updated_at": document["updated_at"],
                    }
                )
            manifest = {
                "format": ARCHIVE_FORMAT,
                "version": transfer_format.VERSION,
                "exported_at": transfer_format.iso(now),
                "count": len(listed),
                "conversations": listed,
            }
            archive.writestr(MANIFEST, dump_json(manifest))
        return buffer.getvalue()

    # --- import ----------------------------------------------------------------------------

    def import_file(
        self,
        user_id: int,
        filename: str,
        data: bytes,
        *,
        translate: Translator | None = None,
    ) -> ImportReport:
        """Import our JSON (one conversation) or zip (all), or ChatGPT's conversations.json
        or its zip, into a new folder named for the import (in `translate`'s language).

        Raises ImportRefused for a file it cannot read at all; otherwise every conversation
        that can be read is written, a batch of whole conversations per transaction
        (storage/transfer.py), and the report lists the others.
        """
        translate = translate or translator()
        source = read_upload(filename, data, self.settings.import_max_mb)
        good, broken = self._check(source, translate)
        if not good:
            return ImportReport(source.kind, None, broken=broken)
        when = self._now().astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        folder_name = translate.gettext(FOLDER_NAMES[source.kind], when=when)
        folder, ids = self.repository.import_conversations(user_id, folder_name, good)
        return ImportReport(
            source.kind,
            folder,
            conversation_ids=ids,
            messages=sum(len(c.messages) for c in good),
            broken=broken,
        )

    def _check(
        self, source: Source, translate: Translator
    ) -> tuple[list[ImportedConversation], list[BrokenConversation]]:
        good: list[ImportedConversation] = []
        broken: list[BrokenConversation] = []
        default_model = self.settings.default_model
        for number, raw in enumerate(source.entries, start=1):
            try:
                if isinstance(raw, Unreadable):
                    raise raw
                if source.kind == "chatgpt":
                    good.append(chatgpt_format.read_conversation(raw, translate, default_model))
                else:
                    good.append(transfer_format.read_conversation(raw, default_model))
            except Unreadable as unreadable:
                broken.append(BrokenConversation(number, _title(raw), unreadable.reason))
            except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
                # A shape no check foresaw: this conversation only, never the whole file.
                reason = Sentence("import_unreadable_conversation", UNREADABLE)
                broken.append(BrokenConversation(number, _title(raw), reason))
        return good, broken


def _title(raw: Any) -> str | None:
    """A broken conversation's title, when it has one, to say which it was."""
    title = raw.get("title") if isinstance(raw, dict) else None
    if not isinstance(title, str) or not title.strip():
        return None
    return title.strip()[: transfer_format.TITLE_MAX]
