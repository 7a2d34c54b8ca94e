"""the database refuses a status or source outside the vocabulary (portal/vocabulary.py)

Revision ID: 0005_vocabulary_checks
Revises: 0004_rate_limits
Create Date: 2026-12-01 09:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005_vocabulary_checks'
down_revision = '0004_rate_limits'
branch_labels = None
depends_on = None

# The words as they are at this revision, spelt out: a migration must not change when the
# vocabulary later does (a new word gets its own migration).
STATUSES = "'launched', 'started', 'cancelled', 'pending', 'completed'"
SOURCES = "'return', 'webhook', 'api'"
SIGNED_SOURCES = "'webhook', 'api'"

CHECKS = {
    'attempts': {'status': STATUSES, 'score_source': SOURCES},
    'attempt_reports': {'source': SOURCES, 'status': STATUSES},
    'unmatched_reports': {'source': SIGNED_SOURCES},
}


def upgrade():
    # Batch mode: SQLite adds a constraint only by rebuilding the table.
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, words in columns.items():
                batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), f'{column} IN ({words})')


def downgrade():
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
