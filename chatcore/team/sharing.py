"""Read-only links to a conversation for the team, and copies a teammate can continue.

A link holds a random token; only its hash is stored, so the database alone cannot open a
shared conversation, and the raw link is shown once, when it is made.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chatcore.chat.use_cases import CONVERSATION_GONE, ConversationView
from chatcore.errors import ConversationNotFound
from chatcore.i18n import N_
from chatcore.team.tokens import token_hash
from storage import AttachmentRecord, ChatRepository, ConversationRecord, ShareRecord
from storage.shares import ShareRepository

SHARE_GONE = N_("This shared link does not exist, or its owner revoked it.")


@dataclass(frozen=True, slots=True)
class NewShare:
    share: ShareRecord
    token: str  # shown once; only its hash is stored


class Sharing:
    def __init__(self, chats: ChatRepository, shares: ShareRepository) -> None:
        self._chats = chats
        self._shares = shares

    def create(self, user_id: int, conversation_id: str) -> NewShare:
        token = secrets.token_urlsafe(24)
        share = self._shares.create_share(user_id, conversation_id, token_hash(token))
        if share is None:  # not this user's conversation: same as missing
            raise ConversationNotFound(CONVERSATION_GONE)
        return NewShare(share, token)

    def revoke(self, user_id: int, share_id: int) -> bool:
        return self._shares.revoke_share(user_id, share_id)

    def active(self, user_id: int, conversation_id: str) -> list[ShareRecord]:
        return self._shares.active_shares(user_id, conversation_id)

    def open(self, token: str) -> ConversationView:
        """The shared conversation's visible thread, for any signed-in teammate."""
        conversation = self._shared(token)
        thread = self._chats.load_thread(conversation)
        return ConversationView(conversation, thread.messages, {})

    def attachment(
        self, user_id: int, token: str, attachment_id: int
    ) -> tuple[AttachmentRecord, bytes] | None:
        """A file of the shared conversation, for a signed-in teammate (`user_id`), while the
        link still works: the share is checked again for every file."""
        conversation = self._shared(token)
        return self._chats.attachment_in(conversation.id, attachment_id)

    def copy(self, user_id: int, token: str) -> ConversationRecord:
        """Continue as my own copy: the visible thread becomes a new conversation of mine."""
        conversation = self._shared(token)
        return self._shares.copy_conversation(
            conversation.id, user_id, f"{conversation.title} (copy)"[:200]
        )

    def _shared(self, token: str) -> ConversationRecord:
        conversation_id = self._shares.shared_conversation(token_hash(token)) if token else None
        conversation = self._chats.shared_conversation(conversation_id) if conversation_id else None
        if conversation is None:
            raise ConversationNotFound(SHARE_GONE, code="share_not_found")
        return conversation
