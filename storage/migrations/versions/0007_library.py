"""library: folders, temporary chats, team settings (retention)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('folders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('preset_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['preset_id'], ['presets.id'], name=op.f('fk_folders_preset_id_presets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_folders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_folders')),
    sa.UniqueConstraint('user_id', 'name', name='uq_folders_user_name')
    )
    op.create_table('team_settings',
    sa.Column('key', sa.String(length=50), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_team_settings'))
    )
    # recreate='never': plain ALTER TABLE ADD COLUMN. Copying conversations on SQLite would
    # cascade-delete every message (see 0004); for the same reason folder_id has no foreign
    # key (deleting a folder clears it in the same transaction).
    with op.batch_alter_table('conversations', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('folder_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('temporary', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_conversations_folder', 'conversations', ['folder_id', 'updated_at'], unique=False)
    op.create_index('ix_conversations_updated', 'conversations', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversations_updated', table_name='conversations')
    op.drop_index('ix_conversations_folder', table_name='conversations')
    with op.batch_alter_table('conversations', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('temporary')
        batch_op.drop_column('folder_id')
    op.drop_table('team_settings')
    op.drop_table('folders')
