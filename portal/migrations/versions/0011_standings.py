"""standings: each student's counting attempt at each exam, derived from the attempts

Revision ID: 0011_standings
Revises: 0010_results_speed
Create Date: 2026-12-01 11:10:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_standings'
down_revision = '0010_results_speed'
branch_labels = None
depends_on = None


SCORED = "(a.status = 'completed' AND a.score IS NOT NULL)"
DERIVE = f"""
INSERT INTO standings (student_id, exam_id, attempts_used, attempt_id, score, max_score, percentage,
                       score_source, flagged, completed_at)
SELECT r.student_id, r.exam_id, r.used, h.id, h.score, h.max_score, h.percentage, h.score_source,
       COALESCE(h.flagged, FALSE), h.completed_at
FROM (
    SELECT a.id, a.student_id, a.exam_id, {SCORED} AS scored,
           count(*) OVER (PARTITION BY a.student_id, a.exam_id) AS used,
           row_number() OVER (
               PARTITION BY a.student_id, a.exam_id
               ORDER BY CASE WHEN {SCORED} THEN 0 ELSE 1 END,
                        CASE WHEN e.counting_rule = 'best' THEN a.score END DESC,
                        CASE WHEN e.counting_rule = 'latest' THEN a.started_at END DESC,
                        CASE WHEN e.counting_rule = 'first' THEN a.started_at END ASC,
                        a.started_at ASC, a.id ASC) AS place
    FROM attempts a JOIN exams e ON e.id = a.exam_id
) r
LEFT JOIN attempts h ON h.id = r.id AND r.scored
WHERE r.place = 1
"""


def upgrade():
    op.create_table(
        'standings',
        sa.Column('student_id', sa.Integer(), nullable=False),
        sa.Column('exam_id', sa.Integer(), nullable=False),
        sa.Column('attempts_used', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.Integer(), nullable=True),
        sa.Column('score', sa.Double(), nullable=True),
        sa.Column('max_score', sa.Double(), nullable=True),
        sa.Column('percentage', sa.Double(), nullable=True),
        sa.Column('score_source', sa.String(length=16), nullable=True),
        sa.Column('flagged', sa.Boolean(), nullable=False),
        sa.Column('completed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_standings_attempt_id_attempts'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_standings_exam_id_exams'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_standings_student_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('student_id', 'exam_id', name=op.f('pk_standings')),
    )
    op.create_index('ix_standings_exam_percentage', 'standings', ['exam_id', 'percentage'])
    # Existing attempts' standings, by the counting rule as it is at this revision (spelt out
    # in SQL: a migration must not change when portal.attempts.grading later does).
    op.execute(DERIVE)


def downgrade():
    op.drop_table('standings')
