"""standings: "best" is the highest percentage, not the highest raw score

Derives every standing again by the rule as it is at this revision (spelt out in SQL, as in
0011: a migration must not change when portal.attempts.grading later does).

Revision ID: 0013_best_by_percentage
Revises: 0012_status_percentage
Create Date: 2026-12-06 22:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013_best_by_percentage'
down_revision = '0012_status_percentage'
branch_labels = None
depends_on = None


SCORED = "(a.status = 'completed' AND a.score IS NOT NULL)"
BEST = "e.counting_rule = 'best'"
SHARE = "COALESCE(CASE WHEN a.max_score > 0 THEN a.score / a.max_score END, a.percentage / 100.0)"
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


def upgrade():
    op.execute("DELETE FROM standings")
    op.execute(DERIVE)


def downgrade():
    pass  # the standings as derived here serve the older rule's pages too; `flask rebuild-standings` re-derives
