"""token totals: a conversation's tokens summed from an index, not from its messages' rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every page run sums the open conversation's tokens (storage/chats.py token_total); with
    # this index the sum reads the index only. About 15 s per million messages to build.
    op.create_index(
        'ix_messages_conversation_tokens', 'messages', ['conversation_id', 'total_tokens']
    )


def downgrade() -> None:
    op.drop_index('ix_messages_conversation_tokens', table_name='messages')
