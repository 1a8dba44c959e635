"""Databases at an older schema revision, holding a small conversation, for migration tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import MetaData

from storage import Database
from storage.migrate import alembic_config

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONVERSATION_ID = "c" * 32


@dataclass(frozen=True)
class OldRows:
    user_id: int
    conversation_id: str
    question_id: int
    reply_id: int


def migrate(database: Database, revision: str, *, down: bool = False) -> None:
    """Move the schema to exactly `revision`, through the database's own engine."""
    config = alembic_config(database.engine.url.render_as_string(hide_password=False))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def populate(database: Database) -> OldRows:
    """User "old" with one conversation (a question and its reply), written with plain SQL
    against the tables as they are, since the current ORM models describe a newer schema."""
    old = MetaData()
    old.reflect(database.engine, only=["users", "conversations", "messages"])
    users, conversations, messages = (
        old.tables[name] for name in ("users", "conversations", "messages")
    )
    stamps = {"created_at": CREATED, "updated_at": CREATED}
    with database.engine.begin() as connection:
        user_id = connection.execute(
            users.insert().values(username="old", display_name="Old", created_at=CREATED)
        ).inserted_primary_key[0]
        connection.execute(
            conversations.insert().values(
                id=CONVERSATION_ID,
                user_id=user_id,
                title="旧对话",
                model="gpt-4o",
                settings={"temperature": 0.5},
                pinned=False,
                archived=False,
                **stamps,
            )
        )
        common = {"conversation_id": CONVERSATION_ID, **stamps}
        question_id = connection.execute(
            messages.insert().values(
                parent_id=None, role="user", content="你好", status="complete", **common
            )
        ).inserted_primary_key[0]
        reply_id = connection.execute(
            messages.insert().values(
                parent_id=question_id,
                role="assistant",
                content="hello",
                status="complete",
                model="gpt-4o",
                request_params={"temperature": 0.5},
                total_tokens=9,
                **common,
            )
        ).inserted_primary_key[0]
        connection.execute(
            conversations.update()
            .where(conversations.c.id == CONVERSATION_ID)
            .values(active_leaf_id=reply_id)
        )
    return OldRows(user_id, CONVERSATION_ID, question_id, reply_id)
