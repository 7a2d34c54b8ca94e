"""standings: a launch Testpress has not reported yet uses none of the attempts allowed

Counts each standing's attempts used again by the rule at this revision (spelt out in SQL, as
in 0011 and 0013: a migration must not change when portal.attempts.grading later does).

Revision ID: 0017_launches_use_no_attempt
Revises: 0016_outbox_and_jobs
Create Date: 2026-12-07 13:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017_launches_use_no_attempt'
down_revision = '0016_outbox_and_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        UPDATE standings SET attempts_used = (
            SELECT count(*) FROM attempts a
            WHERE a.student_id = standings.student_id AND a.exam_id = standings.exam_id AND a.status <> 'launched')
    """)


def downgrade():
    op.execute("""
        UPDATE standings SET attempts_used = (
            SELECT count(*) FROM attempts a
            WHERE a.student_id = standings.student_id AND a.exam_id = standings.exam_id)
    """)
