"""security: sign-in throttle, setup steps, OIDC identity

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:13:08.326543
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('setup_steps',
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('step', name=op.f('pk_setup_steps'))
    )
    op.create_table('signin_attempts',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('name_hash', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_signin_attempts'))
    )
    with op.batch_alter_table('signin_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_signin_attempts_name', ['name_hash'], unique=False)

    # recreate='never': plain ALTER TABLE ADD/DROP COLUMN and CREATE INDEX (SQLite 3.35+).
    # A copy of the users table would, on dropping the original with foreign keys on,
    # cascade to every conversation and message (see 0003).
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('oidc_issuer', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('signed_out_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('uq_users_oidc_identity', ['oidc_issuer', 'oidc_subject'], unique=True)
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('uq_users_oidc_identity')
        batch_op.drop_column('signed_out_at')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('oidc_issuer')

    with op.batch_alter_table('signin_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_attempts_name')

    op.drop_table('signin_attempts')
    op.drop_table('setup_steps')
