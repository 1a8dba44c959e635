"""Use cases the pages call: send, retry, stop, open. No Streamlit here, so tests call them."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from chatcore.config import Settings
from chatcore.generation import GenerationJob
from chatcore.params import GenerationParams
from chatcore.worker import GenerationWorker
from storage import (
    ChatRepository,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    Role,
)

TITLE_LENGTH = 60
RESTART_NOTE = (
    "The server restarted while this reply was being written; the part that arrived is kept."
)


class ChatInputError(ValueError):
    """Something the user can fix before sending; nothing was saved or sent."""


class ConversationNotFound(LookupError):
    """Missing, deleted, or someone else's: deliberately indistinguishable."""


@dataclass(frozen=True, slots=True)
class ConversationView:
    conversation: ConversationRecord
    thread: list[MessageRecord]


def title_from(text: str) -> str:
    """First line of the first message, whitespace collapsed, cut at a word near 60 chars."""
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "New chat")
    title = re.sub(r"\s+", " ", first_line).strip()
    if len(title) <= TITLE_LENGTH:
        return title
    cut = title[:TITLE_LENGTH].rsplit(" ", 1)[0] if " " in title[:TITLE_LENGTH] else title
    return cut[:TITLE_LENGTH].rstrip(" ,.;:") + "…"


def api_messages(thread: list[MessageRecord], system_prompt: str) -> list[dict[str, Any]]:
    """The conversation as the API sees it: failed replies and empty placeholders left out."""
    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": Role.SYSTEM.value, "content": system_prompt})
    for message in thread:
        if message.role == Role.ASSISTANT and (
            message.status in (MessageStatus.ERROR, MessageStatus.STREAMING) or not message.content
        ):
            continue
        messages.append({"role": message.role, "content": message.content})
    return messages


class ChatService:
    def __init__(
        self, settings: Settings, repository: ChatRepository, worker: GenerationWorker
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.worker = worker

    def open(self, user_id: int, conversation_id: str) -> ConversationView:
        conversation = self.repository.get_conversation(user_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        return ConversationView(conversation, self.repository.thread(conversation))

    def check_message(self, text: str) -> str:
        if not text.strip():
            raise ChatInputError("The message is empty.")
        if len(text) > self.settings.max_message_chars:
            raise ChatInputError(
                f"The message has {len(text):,} characters; the limit is "
                f"{self.settings.max_message_chars:,}. Shorten it or split it."
            )
        return text

    def send(
        self, user_id: int, conversation_id: str | None, text: str, params: GenerationParams
    ) -> ConversationView:
        """Save the user's message first, then start the reply in the background."""
        if not self.settings.has_api_key:
            raise ChatInputError("No API key is configured, so nothing can be sent.")
        self.check_message(text)
        params.validate()
        if conversation_id is None:
            conversation = self.repository.create_conversation(
                user_id, title_from(text), params.model, params.to_settings()
            )
        else:
            found = self.repository.get_conversation(user_id, conversation_id)
            if found is None:
                raise ConversationNotFound(conversation_id)
            conversation = found
        return self._start_reply(conversation, self.repository.thread(conversation), params, text)

    def retry(self, user_id: int, failed_message_id: int) -> ConversationView:
        """Answer the same user message again; the failed reply stays stored as a sibling."""
        failed = self.repository.get_message(failed_message_id)
        conversation = (
            self.repository.get_conversation(user_id, failed.conversation_id) if failed else None
        )
        if failed is None or conversation is None or failed.parent_id is None:
            raise ConversationNotFound(str(failed_message_id))
        params = GenerationParams.from_settings(conversation.settings, conversation.model)
        branch_point = replace(conversation, active_leaf_id=failed.parent_id)
        return self._start_reply(conversation, self.repository.thread(branch_point), params)

    def stop(self, message_id: int) -> bool:
        return self.worker.cancel(message_id)

    def _start_reply(
        self,
        conversation: ConversationRecord,
        thread: list[MessageRecord],
        params: GenerationParams,
        user_text: str | None = None,
    ) -> ConversationView:
        """Save the user's message (if new) and the empty reply together, then generate."""
        messages = api_messages(thread, params.system_prompt)
        if user_text is not None:
            messages.append({"role": Role.USER.value, "content": user_text})
        added = self.repository.start_reply(
            conversation.id,
            parent_id=thread[-1].id if thread else None,
            user_text=user_text,
            model=params.model,
            request_params={**params.sampling(), "stream": params.stream},
            settings=params.to_settings(),
        )
        reply = added[-1]
        request: dict[str, Any] = {"model": params.model, "messages": messages, **params.sampling()}
        self.worker.submit(GenerationJob(reply.id, conversation.id, request, params.stream))
        opened = replace(
            conversation,
            model=params.model,
            settings=params.to_settings(),
            active_leaf_id=reply.id,
        )
        return ConversationView(opened, [*thread, *added])
