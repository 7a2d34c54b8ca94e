"""The student's pages: the exams to take, the signed launch, results, history and review
links. The blueprint and its guard are in blueprint.py (as the staff's are), the pages in
views.py, and what they read, rows and their statements, in rows.py.
"""

from portal.web.student import views  # noqa: F401  (the pages add their routes to bp)
from portal.web.student.blueprint import bp

__all__ = ["bp"]
