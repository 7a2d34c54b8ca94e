"""users.session_version: logout, deactivation and a password change end every session

Revision ID: 0003_session_version
Revises: 0002_attempt_integrity
Create Date: 2026-12-01 08:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_session_version'
down_revision = '0002_attempt_integrity'
branch_labels = None
depends_on = None


def upgrade():
    # Existing people start at 1; their sessions, which hold the bare user id, end once.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
