"""Staff pages: one blueprint (blueprint.py, with its guard); one helper module for what
every action shares (actions.py: the row a button acts on, the state a toggle asks for);
one module per area: the dashboard, one attempt, the gradebook and reports, people and
their import, batches, exams and their import from Testpress, the audit log, Testpress's
traffic, email.
"""

# The areas add their routes to bp when imported.
from portal.web.admin import (  # noqa: F401
    attempt,
    audit,
    batches,
    dashboard,
    exam_import,
    exams,
    gradebook,
    mail,
    people,
    people_import,
    testpress,
)
from portal.web.admin.blueprint import bp

__all__ = ["bp"]
