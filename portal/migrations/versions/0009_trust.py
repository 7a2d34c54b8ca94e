"""trust: flag resolutions on attempts, webhook payloads, sync progress and its one-at-a-time lease

Revision ID: 0009_trust
Revises: 0008_people_imports
Create Date: 2026-12-01 12:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009_trust'
down_revision = '0008_people_imports'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag_resolution', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('flag_resolved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('flag_resolved_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('flag_note', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('flag_settled', sa.Text(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_attempts_flag_resolution'),
                                         "flag_resolution IN ('accepted', 'dismissed')")
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=True))
        batch_op.create_index('ix_webhook_deliveries_outcome_id', ['outcome', 'id'])
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('running_slot', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('pages_done', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('expected', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('started_by_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(op.f('uq_sync_runs_running_slot'), ['running_slot'])
        batch_op.create_foreign_key(op.f('fk_sync_runs_started_by_id_users'), 'users', ['started_by_id'], ['id'],
                                    ondelete='SET NULL')
    # A run left "running" by an earlier version holds no slot: it was a single process's,
    # and is long over. Mark it so, rather than show it running for ever.
    op.execute("UPDATE sync_runs SET status = 'failed', error = 'stopped without finishing' "
               "WHERE status = 'running'")


def downgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_sync_runs_started_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(op.f('uq_sync_runs_running_slot'), type_='unique')
        batch_op.drop_column('started_by_id')
        batch_op.drop_column('expected')
        batch_op.drop_column('pages_done')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('running_slot')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_outcome_id')
        batch_op.drop_column('payload')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_attempts_flag_resolution'), type_='check')
        batch_op.drop_column('flag_settled')
        batch_op.drop_column('flag_note')
        batch_op.drop_column('flag_resolved_at')
        batch_op.drop_column('flag_resolved_by_id')
        batch_op.drop_column('flag_resolution')
