"""standings and exam_stats: a score only the browser return reported counts for nothing

Standings count Testpress's own (signed) scores alone, compare shares only by a maximum the
Admin API reported (beside a webhook's score the maximum is the browser's), and point at the
pair's latest claim (`pending_attempt_id`); exam_stats' averages likewise count signed percentages only. Both
are derived again here by the rule as it is at this revision, spelt out in SQL (as in 0011
and 0013: a migration must not change when portal.attempts.grading later does).

Revision ID: 0014_pending_scores
Revises: 0013_best_by_percentage
Create Date: 2026-12-07 05:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014_pending_scores'
down_revision = '0013_best_by_percentage'
branch_labels = None
depends_on = None


SIGNED = "a.score_source IN ('webhook', 'api')"
SCORED = f"(a.status = 'completed' AND a.score IS NOT NULL AND {SIGNED})"
PENDING = "(a.status = 'completed' AND a.score IS NOT NULL AND a.score_source = 'return')"
BEST = "e.counting_rule = 'best'"
SHARE = "COALESCE(CASE WHEN a.score_source = 'api' AND a.max_score > 0 THEN a.score / a.max_score END, a.percentage / 100.0)"
DERIVE = f"""
INSERT INTO standings (student_id, exam_id, attempts_used, attempt_id, score, max_score, percentage,
                       score_source, flagged, completed_at, pending_attempt_id)
SELECT r.student_id, r.exam_id, r.used, h.id, h.score, h.max_score, h.percentage, h.score_source,
       COALESCE(h.flagged, FALSE), h.completed_at, r.pending
FROM (
    SELECT a.id, a.student_id, a.exam_id, {SCORED} AS scored,
           count(*) OVER (PARTITION BY a.student_id, a.exam_id) AS used,
           max(CASE WHEN {PENDING} THEN a.id END) OVER (PARTITION BY a.student_id, a.exam_id) AS pending,
           row_number() OVER (
               PARTITION BY a.student_id, a.exam_id
               ORDER BY CASE WHEN {SCORED} THEN 0 ELSE 1 END,
                        CASE WHEN {BEST} THEN CASE WHEN a.percentage IS NOT NULL THEN 0 ELSE 1 END END ASC,
                        CASE WHEN {BEST} THEN a.percentage END DESC,
                        CASE WHEN {BEST} THEN {SHARE} END DESC,
                        CASE WHEN {BEST} AND a.percentage IS NULL THEN a.score END DESC,
                        CASE WHEN e.counting_rule = 'latest' THEN a.started_at END DESC,
                        CASE WHEN e.counting_rule = 'first' THEN a.started_at END ASC,
                        a.started_at ASC, a.id ASC) AS place
    FROM attempts a JOIN exams e ON e.id = a.exam_id
) r
LEFT JOIN attempts h ON h.id = r.id AND r.scored
WHERE r.place = 1
"""
SIGNED_PERCENTAGE = f"CASE WHEN {SIGNED} THEN a.percentage END"
RECOUNT = f"""
INSERT INTO exam_stats (exam_id, status, attempts, scored, percentage_sum)
SELECT a.exam_id, a.status, count(*), count({SIGNED_PERCENTAGE}), COALESCE(sum({SIGNED_PERCENTAGE}), 0.0)
FROM attempts a GROUP BY a.exam_id, a.status
"""


def upgrade():
    with op.batch_alter_table('standings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_attempt_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_standings_pending_attempt_id_attempts'), 'attempts',
                                    ['pending_attempt_id'], ['id'], ondelete='SET NULL')
    op.execute("DELETE FROM standings")
    op.execute(DERIVE)
    op.execute("DELETE FROM exam_stats")
    op.execute(RECOUNT)


def downgrade():
    with op.batch_alter_table('standings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_standings_pending_attempt_id_attempts'), type_='foreignkey')
        batch_op.drop_column('pending_attempt_id')
