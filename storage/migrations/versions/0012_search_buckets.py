"""search buckets: PostgreSQL's trigram index also keys each message by its block of ids

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:00:00.000000

Search wants a person's newest matches first, and a GIN index returns its matches in no
order: a word in one message of 400 is 2,500 messages at a million, each read from the table
and sorted before the first twenty are known. With the message's block of ids
(id / SEARCH_BUCKET) as a first column (btree_gin), one block's matches are read on their
own, newest block first, and the reading stops once a page is full (storage/search.py).

The index replaces 0008's trigram index, and costs about as much to build (one more entry per
message). `CREATE EXTENSION btree_gin` needs what pg_trgm needed in 0008 (a trusted extension
since PostgreSQL 13). SQLite is unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Ids per block; storage/search.py's SEARCH_BUCKET must be the same number, since a query
# uses the index only when its condition is this very expression.
BUCKET = 4096


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute(
        f"CREATE INDEX ix_messages_search ON messages "
        f"USING gin ((id / {BUCKET}), content gin_trgm_ops)"
    )
    op.execute("DROP INDEX IF EXISTS ix_messages_content_trgm")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_messages_content_trgm ON messages USING gin (content gin_trgm_ops)")
    op.execute("DROP INDEX IF EXISTS ix_messages_search")  # btree_gin stays, as pg_trgm did
