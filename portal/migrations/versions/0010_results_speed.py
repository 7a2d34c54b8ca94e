"""results at a million attempts: exam_stats (kept counts per exam and status) and the indexes
the staff table, its filters and the dashboard read through

Revision ID: 0010_results_speed
Revises: 0009_trust
Create Date: 2026-12-01 11:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_results_speed'
down_revision = '0009_trust'
branch_labels = None
depends_on = None

ATTEMPT_INDEXES = {
    'ix_attempts_exam_status_percentage': ['exam_id', 'status', 'percentage'],
    'ix_attempts_started': ['started_at', 'id', 'student_id'],
    'ix_attempts_exam_started': ['exam_id', 'started_at', 'id'],
    'ix_attempts_status_started': ['status', 'started_at', 'id'],
    'ix_attempts_source_started': ['score_source', 'started_at', 'id'],
    'ix_attempts_flagged_started': ['flagged', 'started_at', 'id'],
    'ix_attempts_percentage': ['percentage', 'id'],
}


def upgrade():
    op.create_table(
        'exam_stats',
        sa.Column('exam_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('scored', sa.Integer(), nullable=False),
        sa.Column('percentage_sum', sa.Double(), nullable=False),
        sa.CheckConstraint("status IN ('launched', 'started', 'cancelled', 'pending', 'completed')",
                           name=op.f('ck_exam_stats_status')),
        sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_exam_stats_exam_id_exams'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('exam_id', 'status', name=op.f('pk_exam_stats')),
    )
    # The new index begins with the old one's columns, which it replaces.
    op.drop_index('ix_attempts_exam_status', table_name='attempts')
    for name, columns in ATTEMPT_INDEXES.items():
        op.create_index(name, 'attempts', columns)
    op.create_index('ix_exams_title', 'exams', ['title', 'id'])
    op.create_index('ix_webhook_deliveries_outcome_received', 'webhook_deliveries', ['outcome', 'received_at'])
    # The counts of the attempts already there (what `flask rebuild-exam-stats` does).
    op.execute(
        "INSERT INTO exam_stats (exam_id, status, attempts, scored, percentage_sum) "
        "SELECT exam_id, status, count(*), count(percentage), coalesce(sum(percentage), 0.0) "
        "FROM attempts GROUP BY exam_id, status"
    )
    # The planner's statistics, so that SQLite chooses among the new indexes by what the
    # tables hold (it keeps none unless told; see portal.exams.stats.rebuild).
    op.execute("ANALYZE")


def downgrade():
    op.drop_index('ix_webhook_deliveries_outcome_received', table_name='webhook_deliveries')
    op.drop_index('ix_exams_title', table_name='exams')
    for name in ATTEMPT_INDEXES:
        op.drop_index(name, table_name='attempts')
    op.create_index('ix_attempts_exam_status', 'attempts', ['exam_id', 'status'])
    op.drop_table('exam_stats')
