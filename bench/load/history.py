"""Earlier conversations for each simulated teammate, written before the load starts.

A page run draws the sidebar's list of the reader's conversations, up to a page of 20. A
teammate who has used AnyChat for a while has that many; one who signed in a minute ago has
the few of this run. With their own accounts (ANYCHAT_AUTH=proxy) the teammates would
otherwise be the second kind, which costs the server less than a team at work does.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage import ChatRepository, Database, Role, SignInSource, UserRepository

MODEL = "gpt-4o"


def seed_history(database_url: str, names: Sequence[str], conversations: int) -> None:
    """`conversations` finished one-turn chats for each account named, created as a trusted
    proxy's first sign-in creates it."""
    if conversations <= 0:
        return
    database = Database(database_url)
    try:
        users, chats = UserRepository(database), ChatRepository(database)
        for name in names:
            user = users.ensure_user(name, auth_source=SignInSource.PROXY)
            for number in range(1, conversations + 1):
                title = f"Earlier question {number} of {name}"
                conversation = chats.create_conversation(user.id, title, MODEL)
                question = chats.add_message(
                    conversation.id, Role.USER, f"{title}: what changed?", parent_id=None
                )
                chats.add_message(
                    conversation.id,
                    Role.ASSISTANT,
                    f"An earlier answer to {title.lower()}.",
                    parent_id=question.id,
                    model=MODEL,
                )
    finally:
        database.dispose()
