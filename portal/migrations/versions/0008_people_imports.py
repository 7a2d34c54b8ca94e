"""people_imports: an uploaded CSV of people between its preview and its confirmation

Revision ID: 0008_people_imports
Revises: 0007_people_search
Create Date: 2026-12-01 12:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_people_imports'
down_revision = '0007_people_search'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'people_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('csv_text', sa.Text(), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(), nullable=True),
        sa.Column('created_count', sa.Integer(), nullable=True),
        sa.Column('leftover_csv', sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'confirmed')", name=op.f('ck_people_imports_status')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_people_imports_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_people_imports')),
    )
    op.create_index(op.f('ix_people_imports_created_at'), 'people_imports', ['created_at'])


def downgrade():
    op.drop_table('people_imports')
