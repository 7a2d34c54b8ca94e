"""attempts: a partial index of the flagged attempts by exam, for the exam report's count of them

The report counted an exam's flagged attempts through ix_attempts_exam_started, reading every
attempt of the exam: 15 ms of its 22 at a million attempts (bench/README.md). This index
holds only the flagged ones. Its condition is written as the portal's query writes it
(`flagged IS true`, which SQLAlchemy renders `IS 1` on SQLite): SQLite uses a partial index
only when the query says its condition.

Revision ID: 0018_exam_flagged
Revises: 0017_launches_use_no_attempt
Create Date: 2026-12-07 17:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018_exam_flagged'
down_revision = '0017_launches_use_no_attempt'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_attempts_exam_flagged", "attempts", ["exam_id"],
                    sqlite_where=sa.text("flagged IS 1"), postgresql_where=sa.text("flagged IS true"))


def downgrade():
    op.drop_index("ix_attempts_exam_flagged", table_name="attempts")
