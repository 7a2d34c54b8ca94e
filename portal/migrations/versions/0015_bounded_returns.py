"""attempts: a bounded history of browser returns

An attempt keeps its first browser return and its latest; those between are counted in
`other_returns` and forgotten (portal.attempts.reconciliation), so that a student replaying their
return with other values costs a counter, not a row, and no report's work grows with it.
Histories that grew before are trimmed the same way here.

Revision ID: 0015_bounded_returns
Revises: 0014_pending_scores
Create Date: 2026-12-07 06:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015_bounded_returns'
down_revision = '0014_pending_scores'
branch_labels = None
depends_on = None


RETURNS = "SELECT {what} FROM attempt_reports r WHERE r.attempt_id = {attempt} AND r.source = 'return'"


def upgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('other_returns', sa.Integer(), server_default='0', nullable=False))
    counted = RETURNS.format(what="count(*)", attempt="attempts.id")
    op.execute(f"UPDATE attempts SET other_returns = ({counted}) - 2 WHERE ({counted}) > 2")
    first = RETURNS.format(what="min(r.id)", attempt="attempt_reports.attempt_id")
    latest = RETURNS.format(what="max(r.id)", attempt="attempt_reports.attempt_id")
    op.execute(f"DELETE FROM attempt_reports WHERE source = 'return' AND id <> ({first}) AND id <> ({latest})")


def downgrade():
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_column('other_returns')
