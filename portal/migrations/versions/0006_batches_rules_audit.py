"""batches, exam rules (attempts allowed, counting rule, instructions, archive), password links, audit log

Revision ID: 0006_batches_rules_audit
Revises: 0005_vocabulary_checks
Create Date: 2026-12-01 11:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006_batches_rules_audit'
down_revision = '0005_vocabulary_checks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('archived_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_batches')),
        sa.UniqueConstraint('name', name=op.f('uq_batches_name')),
    )
    op.create_table(
        'batch_members',
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_batch_members_batch_id_batches'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_batch_members_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('batch_id', 'user_id', name=op.f('pk_batch_members')),
    )
    op.create_index(op.f('ix_batch_members_user_id'), 'batch_members', ['user_id'])
    op.create_table(
        'exam_batches',
        sa.Column('exam_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_exam_batches_batch_id_batches'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_exam_batches_exam_id_exams'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('exam_id', 'batch_id', name=op.f('pk_exam_batches')),
    )
    op.create_index(op.f('ix_exam_batches_batch_id'), 'exam_batches', ['batch_id'])
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('instructions', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attempts_allowed', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('counting_rule', sa.String(length=8), server_default='best', nullable=False))
        batch_op.create_check_constraint(op.f('ck_exams_counting_rule'),
                                         "counting_rule IN ('best', 'latest', 'first')")
    op.create_table(
        'password_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_password_links_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_links_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_password_links_token_hash')),
    )
    op.create_index(op.f('ix_password_links_user_id'), 'password_links', ['user_id'])
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('target_type', sa.String(length=20), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=True),
        sa.Column('summary', sa.String(length=300), nullable=False),
        sa.Column('before', sa.Text(), nullable=True),
        sa.Column('after', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'])
    op.create_index(op.f('ix_audit_log_actor_id'), 'audit_log', ['actor_id'])
    op.create_index(op.f('ix_audit_log_action'), 'audit_log', ['action'])
    op.create_index('ix_audit_log_target', 'audit_log', ['target_type', 'target_id'])


def downgrade():
    op.drop_table('audit_log')
    op.drop_table('password_links')
    with op.batch_alter_table('exams', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_exams_counting_rule'), type_='check')
        batch_op.drop_column('counting_rule')
        batch_op.drop_column('attempts_allowed')
        batch_op.drop_column('instructions')
        batch_op.drop_column('archived_at')
    op.drop_table('exam_batches')
    op.drop_table('batch_members')
    op.drop_table('batches')
