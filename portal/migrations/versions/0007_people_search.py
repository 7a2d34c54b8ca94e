"""people search: an index on users (name, id) for the people list's order and its keyset pages

Revision ID: 0007_people_search
Revises: 0006_batches_rules_audit
Create Date: 2026-12-01 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007_people_search'
down_revision = '0006_batches_rules_audit'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_users_name_id', 'users', ['name', 'id'])


def downgrade():
    op.drop_index('ix_users_name_id', table_name='users')
