"""languages: the account's interface language, reply errors by code

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # recreate='never': plain ALTER TABLE ADD COLUMN. A copy of either table would, when the
    # original is dropped with foreign keys on, cascade to what hangs off it (see 0004).
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=20), nullable=True))
    with op.batch_alter_table('messages', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('error_code', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('error_params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('error_params')
        batch_op.drop_column('error_code')
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')
