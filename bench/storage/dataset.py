"""The benchmark's library: one person's conversations of 100 messages each, plus one of 5,000,
written with multi-row INSERTs (SQLite) or COPY (PostgreSQL), not one ORM object at a time.

Conversation `index` is the same whatever else exists (its random state is seeded by the seed
and the index), so a library grows from 100 conversations to 1,000 to 10,000 by adding the
missing ones: each size is the smaller one plus more history. Conversations are trees as the
app writes them: regenerated replies beside the earlier answer, edited questions beside the
first version (with its reply), n-choice groups, and tool calls with their results.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from bench.storage.text import TextPool
from chatcore.chat.thread import title_from
from storage import AccountRole, Database, SignInSource, UserRepository
from storage.models import Conversation, Message
from storage.users import LOCAL_USERNAME

MESSAGES_EACH = 100
LONG_MESSAGES = 5000
CONVERSATION_SPACING = timedelta(minutes=50)  # 10,000 conversations span about a year
BATCH = 20_000  # rows per INSERT/COPY round
MODEL = "gpt-4o"

MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "parent_id",
    "role",
    "content",
    "status",
    "finish_reason",
    "model",
    "request_params",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "total_ms",
    "tool_calls",
    "tool_call_id",
    "choice_group",
    "choice_index",
    "created_at",
    "updated_at",
)
CONVERSATION_COLUMNS = (
    "id",
    "user_id",
    "title",
    "model",
    "settings",
    "active_leaf_id",
    "pinned",
    "archived",
    "temporary",
    "created_at",
    "updated_at",
)
JSON_COLUMNS = frozenset({"request_params", "tool_calls", "settings"})

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Library:
    user_id: int
    long_id: str  # the 5,000-message conversation
    long_messages: int
    short_id: str  # the newest 100-message conversation
    conversations: int  # of MESSAGES_EACH messages, the long one not counted
    messages: int  # every message, the long conversation's included


class _Tree:
    """One conversation's rows, grown the way the app grows them."""

    def __init__(
        self, conversation_id: str, first_id: int, rng: random.Random, start: datetime
    ) -> None:
        self.conversation_id = conversation_id
        self.rows: list[dict[str, Any]] = []
        self.next_id = first_id
        self.rng = rng
        self.clock = start

    def add(self, role: str, content: str, parent_id: int | None, **extra: Any) -> int:
        self.clock += timedelta(seconds=self.rng.randint(5, 300))
        row: dict[str, Any] = dict.fromkeys(MESSAGE_COLUMNS)
        row.update(
            id=self.next_id,
            conversation_id=self.conversation_id,
            parent_id=parent_id,
            role=role,
            content=content,
            status="complete",
            created_at=self.clock,
            updated_at=self.clock,
        )
        if role == "assistant":
            completion = len(content) // 3 + 1
            prompt = 40 * len(self.rows) + 20
            row.update(
                model=MODEL,
                finish_reason="stop",
                request_params={"stream": True},
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                first_token_ms=self.rng.randint(200, 900),
                total_ms=self.rng.randint(1000, 9000),
            )
        row.update(extra)
        self.rows.append(row)
        self.next_id += 1
        return int(row["id"])


def conversation_rows(
    conversation_id: str,
    size: int,
    first_id: int,
    rng: random.Random,
    pool: TextPool,
    start: datetime,
) -> tuple[list[dict[str, Any]], int]:
    """Exactly `size` message rows forming one conversation tree, and its visible leaf."""
    tree = _Tree(conversation_id, first_id, rng, start)
    parent: int | None = None
    while len(tree.rows) < size:
        left = size - len(tree.rows)
        if parent is not None and left >= 4 and rng.random() < 0.02:
            # An edited question: the first version and its reply stay as a branch.
            first = tree.add("user", pool.question(rng), parent)
            tree.add("assistant", pool.reply(rng), first)
            left -= 2
        question = tree.add("user", pool.question(rng), parent)
        parent = question
        left -= 1
        roll = rng.random()
        if left >= 3 and roll < 0.02:
            call_id = f"call_{question}"
            call = tree.add(
                "assistant",
                "",
                question,
                finish_reason="tool_calls",
                tool_calls=[
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
                    }
                ],
            )
            result = tree.add("tool", "42", call, tool_call_id=call_id)
            parent = tree.add("assistant", pool.reply(rng), result)
        elif left >= 2 and roll < 0.04:
            count = min(rng.randint(2, 3), left)
            group = tree.next_id
            choices = [
                tree.add(
                    "assistant", pool.reply(rng), question, choice_group=group, choice_index=index
                )
                for index in range(count)
            ]
            parent = rng.choice(choices)
        elif left >= 2 and roll < 0.10:
            tree.add("assistant", pool.reply(rng), question)  # the earlier answer
            parent = tree.add("assistant", pool.reply(rng), question)
        elif left >= 1:
            parent = tree.add("assistant", pool.reply(rng), question)
    assert parent is not None
    return tree.rows, parent


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy stores it in SQLite: a time as UTC digits without a zone."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _raw_row(row: dict[str, Any], columns: tuple[str, ...], sqlite: bool) -> tuple[Any, ...]:
    """A row for the driver itself: JSON columns as text, None as SQL NULL (as the ORM
    writes an unset column), times as the dialect stores them."""
    values = (
        json.dumps(row[name]) if name in JSON_COLUMNS and row[name] is not None else row[name]
        for name in columns
    )
    return tuple(_sqlite_value(value) for value in values) if sqlite else tuple(values)


def _write(
    database: Database, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Many rows in one round: COPY on PostgreSQL, one prepared INSERT run over every row
    (executemany) on SQLite; both through the driver, past the ORM's per-object work."""
    if not rows:
        return
    sqlite = database.engine.dialect.name == "sqlite"
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(columns)
        if sqlite:
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",
                [_raw_row(row, columns, sqlite) for row in rows],
            )
        else:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # psycopg 3
                for row in rows:
                    copy.write_row(_raw_row(row, columns, sqlite))
        raw.commit()
    finally:
        raw.close()


@contextmanager
def _indexes_set_aside(database: Database, writing: bool) -> Iterator[None]:
    """PostgreSQL: the messages' GIN indexes (search's trigram index) dropped while rows are
    copied in, then built again in one pass, several times faster than entry by entry. What
    each index is comes from the database itself, so this follows whatever the migrations
    made. SQLite's full-text index is kept by triggers, row by row: its libraries are kept
    between runs instead (cli.SqliteLibraries)."""
    if not writing or database.engine.dialect.name != "postgresql":
        yield
        return
    with database.engine.begin() as connection:
        found = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'messages' AND indexdef ILIKE '%USING gin%'"
            )
        ).all()
        for name, _definition in found:
            connection.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            for _name, definition in found:
                connection.execute(text(definition))


def _owner(database: Database) -> int:
    users = UserRepository(database)
    user = users.ensure_user(
        LOCAL_USERNAME,
        display_name="Local user",
        auth_source=SignInSource.NONE,
        role=AccountRole.ADMIN,
    )
    return user.id


def _conversation_id(seed: int, index: int | str) -> str:
    return f"{random.Random(f'id-{seed}-{index}').getrandbits(128):032x}"


def _conversation_row(
    conversation_id: str, user_id: int, title: str, leaf: int, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "user_id": user_id,
        "title": title,
        "model": MODEL,
        "settings": {"model": MODEL},
        "active_leaf_id": leaf,
        "pinned": False,
        "archived": False,
        "temporary": False,
        "created_at": rows[0]["created_at"],
        "updated_at": rows[-1]["updated_at"],
    }


def build(
    database: Database,
    conversations: int,
    *,
    seed: int,
    long_messages: int = LONG_MESSAGES,
    progress: Progress = print,
) -> Library:
    """Grow the library in `database` to `conversations` of 100 messages (plus the long one).

    What exists already is kept: only missing conversations are written.
    """
    user_id = _owner(database)
    pool = TextPool(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    with database.session() as session:
        existing = set(
            session.scalars(select(Conversation.id).where(Conversation.user_id == user_id))
        )
        next_id = int(session.scalar(select(func.coalesce(func.max(Message.id), 0))) or 0) + 1
    messages: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    written = 0

    def flush(final: bool = False) -> None:
        nonlocal messages, heads, written
        if len(messages) >= BATCH or (final and messages):
            # Conversations first: a message's conversation_id is a foreign key (active_leaf_id
            # is not one).
            _write(database, "conversations", CONVERSATION_COLUMNS, heads)
            _write(database, "messages", MESSAGE_COLUMNS, messages)
            written += len(messages)
            progress(f"  {written:,} messages written")
            messages, heads = [], []

    def add(index: int | str, size: int, start: datetime, title: str | None = None) -> None:
        nonlocal next_id
        conversation_id = _conversation_id(seed, index)
        if conversation_id in existing:
            return
        rng = random.Random(f"conversation-{seed}-{index}")
        rows, leaf = conversation_rows(conversation_id, size, next_id, rng, pool, start)
        next_id += len(rows)
        messages.extend(rows)
        heads.append(
            _conversation_row(
                conversation_id, user_id, title or title_from(rows[0]["content"]), leaf, rows
            )
        )
        flush()

    # The long conversation began months ago and was last used a moment ago: top of the list.
    long_key = f"long-{long_messages}"
    missing = {long_key, *range(conversations)} - {
        index
        for index in (long_key, *range(conversations))
        if _conversation_id(seed, index) in existing
    }
    with _indexes_set_aside(database, bool(missing)):
        long_start = now - timedelta(seconds=long_messages * 160)
        add(long_key, long_messages, long_start, f"The {long_messages:,}-message conversation")
        for index in range(conversations):
            add(index, MESSAGES_EACH, now - (index + 2) * CONVERSATION_SPACING)
        flush(final=True)
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('messages', 'id'), max(id)) FROM messages"
                )
            )
        # What autovacuum would have done by the time a library is this big: statistics,
        # and the visibility map that lets an index-only scan (a conversation's token total)
        # skip the table; since PostgreSQL 13 autovacuum runs after inserts alone too.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE conversations"))
            c.execute(text("VACUUM ANALYZE messages"))
    with database.session() as session:
        total = int(session.scalar(select(func.count()).select_from(Message)) or 0)
    return Library(
        user_id=user_id,
        long_id=_conversation_id(seed, long_key),
        long_messages=long_messages,
        short_id=_conversation_id(seed, 0),
        conversations=conversations,
        messages=total,
    )
