"""outbox and jobs: email sent after the commit of its cause, and the worker's scheduled jobs;
password_links.import_id: the CSV import that issued a link, whose page emails its people new ones

Revision ID: 0016_outbox_and_jobs
Revises: 0015_bounded_returns
Create Date: 2026-12-07 12:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016_outbox_and_jobs'
down_revision = '0015_bounded_returns'
branch_labels = None
depends_on = None

MAIL_STATUSES = "'queued', 'sent', 'failed'"
MAIL_KINDS = "'sign_in_link', 'result_confirmed', 'score_changed', 'staff_digest', 'test'"
JOB_NAMES = "'sync', 'outbox', 'expire_imports', 'digest'"


def upgrade():
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_password_links_import_id'), ['import_id'])
        batch_op.create_foreign_key(batch_op.f('fk_password_links_import_id_people_imports'), 'people_imports',
                                    ['import_id'], ['id'], ondelete='SET NULL')
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=120), nullable=False),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=True),
        sa.Column('body_html', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('queued_at', sa.DateTime(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('claimed_by', sa.String(length=32), nullable=True),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('failed_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"status IN ({MAIL_STATUSES})", name=op.f('ck_outbox_status')),
        sa.CheckConstraint(f"kind IN ({MAIL_KINDS})", name=op.f('ck_outbox_kind')),
        sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_outbox_recipient_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key')),
    )
    op.create_index(op.f('ix_outbox_created_at'), 'outbox', ['created_at'])
    op.create_index(op.f('ix_outbox_recipient_id'), 'outbox', ['recipient_id'])
    op.create_index('ix_outbox_status_next_attempt_at', 'outbox', ['status', 'next_attempt_at'])
    op.create_table(
        'jobs',
        sa.Column('name', sa.String(length=20), nullable=False),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('holder', sa.String(length=64), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=10), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.CheckConstraint(f"name IN ({JOB_NAMES})", name=op.f('ck_jobs_name')),
        sa.CheckConstraint("outcome IN ('ok', 'failed')", name=op.f('ck_jobs_outcome')),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_jobs')),
    )


def downgrade():
    op.drop_table('jobs')
    op.drop_table('outbox')
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_password_links_import_id_people_imports'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_password_links_import_id'))
        batch_op.drop_column('import_id')
