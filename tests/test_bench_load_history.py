"""bench/load's earlier conversations: each teammate's own account, as a trusted proxy's first
sign-in makes it, holding that many finished chats and nobody else's."""

from __future__ import annotations

from bench.load.history import seed_history
from bench.load.scenario import teammate_name
from storage import ChatRepository, Database, MessageStatus, SignInSource, UserRepository


def test_each_teammate_gets_their_own_earlier_conversations(
    database: Database, database_url: str
) -> None:
    names = [teammate_name(user) for user in range(3)]
    seed_history(database_url, names, 4)

    users, chats = UserRepository(database), ChatRepository(database)
    for name in names:
        user = users.find_user(name)
        assert user is not None and user.auth_source == SignInSource.PROXY
        page = chats.list_conversations(user.id, limit=20)
        assert len(page.items) == 4
        assert all(name in conversation.title for conversation in page.items)
        thread = chats.thread(page.items[0])
        assert [message.role for message in thread] == ["user", "assistant"]
        assert all(message.status == MessageStatus.COMPLETE for message in thread)
