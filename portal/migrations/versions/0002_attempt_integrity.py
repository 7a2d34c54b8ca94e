"""attempts and reports: the return's claimed Testpress id apart from the signed one; ordering of signed results

Revision ID: 0002_attempt_integrity
Revises: 1b7048eff049
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_attempt_integrity"
down_revision = "1b7048eff049"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("claimed_testpress_attempt_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("scored_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("needs_confirmation", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_attempts_claimed_testpress_attempt_id", ["claimed_testpress_attempt_id"])
    with op.batch_alter_table("attempt_reports") as batch:
        batch.add_column(sa.Column("testpress_attempt_id", sa.String(length=32), nullable=True))
    # Until now the return's claim could sit in the unique column: where no signed source has
    # reported the attempt, that id was only ever a claim.
    op.execute(
        "UPDATE attempts SET claimed_testpress_attempt_id = testpress_attempt_id, testpress_attempt_id = NULL "
        "WHERE testpress_attempt_id IS NOT NULL AND webhook_seen_at IS NULL AND api_seen_at IS NULL"
    )


def downgrade():
    with op.batch_alter_table("attempt_reports") as batch:
        batch.drop_column("testpress_attempt_id")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_index("ix_attempts_claimed_testpress_attempt_id")
        batch.drop_column("needs_confirmation")
        batch.drop_column("scored_at")
        batch.drop_column("claimed_testpress_attempt_id")
