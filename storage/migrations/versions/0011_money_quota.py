"""money quota: a person's spending limit per quota period, in the installation's currency

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # recreate='never': plain ALTER TABLE ADD COLUMN. A copy of the users table would, on
    # dropping the original with foreign keys on, cascade to everything a user owns (see 0004).
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('quota_money', sa.Numeric(precision=14, scale=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('quota_money')
