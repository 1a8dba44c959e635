"""search: a full-text index of messages that finds Chinese as well as English

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:00:00.000000

SQLite: an FTS5 table with the trigram tokenizer (no word breaks needed, so Chinese is found
as well as English), contentless: it holds only the index, of `content` followed by two
unit separators (char 31) so that every character of a message starts a trigram, which is
how storage/search.py finds one- and two-character terms through the index's vocabulary.
Triggers keep it in step with `messages` in the writing transaction, cascaded deletes
included. A contentless index must be told exactly what it indexed to remove a row, so the
triggers index a message only in one state (complete, not a tool result, not empty) and
remove it only from that state. A later migration that recreates `messages` (batch mode's
copy and rename) drops these triggers with the old table: it must create them again.

The FTS table and its shadow tables (messages_fts_*) and the trigram index on PostgreSQL
are not ORM metadata; storage/search.py names them for Alembic's comparisons.

PostgreSQL: pg_trgm's GIN index on `content`, which ILIKE uses for any pattern of three or
more characters. `CREATE EXTENSION` needs a role allowed to create pg_trgm (a trusted
extension since PostgreSQL 13: the database's owner, or any role with CREATE on it), or a
superuser who created it beforehand. With a UTF-8 LC_CTYPE (C.UTF-8, en_US.UTF-8, ...)
pg_trgm indexes Chinese; under LC_CTYPE=C it skips non-ASCII characters, and such searches
still find everything, by reading the table.
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The state a message is indexed in; triggers add and remove rows only in it.
_INDEXED = "{row}.content != '' AND {row}.status != 'streaming' AND {row}.role != 'tool'"
_ADD = "INSERT INTO messages_fts(rowid, content) SELECT {row}.id, {row}.content || char(31, 31)"
_REMOVE = (
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "SELECT 'delete', {row}.id, {row}.content || char(31, 31)"
)


def _sqlite_upgrade() -> None:
    version = op.get_bind().exec_driver_sql("select sqlite_version()").scalar()
    parts = tuple(int(part) for part in str(version).split(".")[:2])
    if parts < (3, 34):
        raise RuntimeError(
            f"Search needs SQLite 3.34 or newer (FTS5's trigram tokenizer); this Python "
            f"has SQLite {version}."
        )
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "content, tokenize='trigram case_sensitive 0', content='', columnsize=0)"
    )
    # One row per indexed trigram occurrence: how terms shorter than a trigram are found.
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts_instances USING fts5vocab(messages_fts, instance)"
    )
    old, new = _INDEXED.format(row="old"), _INDEXED.format(row="new")
    op.execute(
        f"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN {new} "
        f"BEGIN {_ADD.format(row='new')}; END"
    )
    op.execute(
        f"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN {old} "
        f"BEGIN {_REMOVE.format(row='old')}; END"
    )
    # One trigger, removal first: the old and new text may share trigrams.
    op.execute(
        "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status, role ON messages "
        f"BEGIN {_REMOVE.format(row='old')} WHERE {old}; "
        f"{_ADD.format(row='new')} WHERE {new}; END"
    )
    op.execute(f"{_ADD.format(row='messages')} FROM messages WHERE {_INDEXED.format(row='messages')}")
    # The backfill leaves several segments; one is faster to search.
    op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")


def upgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(
            'CREATE INDEX ix_messages_content_trgm ON messages USING gin (content gin_trgm_ops)'
        )
        return
    _sqlite_upgrade()


def downgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_messages_content_trgm')
        return  # pg_trgm stays: something else in the database may use it
    for trigger in ('messages_fts_update', 'messages_fts_delete', 'messages_fts_insert'):
        op.execute(f'DROP TRIGGER IF EXISTS {trigger}')
    op.execute('DROP TABLE IF EXISTS messages_fts_instances')
    op.execute('DROP TABLE IF EXISTS messages_fts')
