"""Results for staff: the gradebook (students x exams) and an exam's report.

Both read portal.attempts.standings (one row per student and exam, the attempt that counts by the
exam's rule), so that their statements and their time do not grow with the number of
attempts: a student with fifty retakes is one row here. The report's one figure about every
attempt, its flags, reads an index of the flagged attempts alone.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from portal.core.clock import to_local
from portal.core.extensions import db
from portal.exams.rules import for_batches_where
from portal.models import Attempt, Batch, Exam, Standing, User, batch_members, exam_batches
from portal.results import claim, max_score_claimed

STUDENTS_PER_PAGE = 50
RANKS_PER_PAGE = 100
# The histogram's bins: tenths of the percentage scale, and one below 0 for negative marking.
BIN_WIDTH = 10


# ---------------------------------------------------------------------------------------
# The gradebook


def gradebook_exams(batch_id: int | None) -> list[Exam]:
    """The gradebook's columns: the exams offered (or once offered: archived) to the batch,
    or to anyone without a batch, and any exam taken (one unpublished again keeps its
    results); drafts never taken are no column.

    "Taken" is a standing (every attempt has one): an EXISTS in the same statement, a seek
    on ix_standings_exam_percentage per exam, not a query per exam."""
    taken = sa.exists().where(Standing.exam_id == Exam.id)
    query = sa.select(Exam).where(sa.or_(Exam.published, Exam.archived_at.is_not(None), taken))
    if batch_id is not None:
        query = query.where(for_batches_where(exam_batches.c.batch_id == batch_id))
    return list(db.session.scalars(query.order_by(Exam.opens_at.is_(None), Exam.opens_at, Exam.title, Exam.id)))


def gradebook_students(batch_id: int | None, sort_exam: int | None) -> sa.Select:
    """The gradebook's rows, in order: students (of the batch), by name, or by their counting
    percentage at `sort_exam`, highest first, those without one last."""
    query = sa.select(User).where(User.is_staff.is_(False))
    if batch_id is not None:
        query = (query.join(batch_members, batch_members.c.user_id == User.id)
                 .where(batch_members.c.batch_id == batch_id))
    if sort_exam is None:
        return query.order_by(User.name, User.id)
    standing = sa.orm.aliased(Standing)
    return (query.outerjoin(standing, sa.and_(standing.student_id == User.id, standing.exam_id == sort_exam))
            # "IS NULL" first as a key: both databases then put the unscored last alike.
            .order_by(standing.percentage.is_(None), standing.percentage.desc(), User.name, User.id))


# The pair's latest score only the browser reported, beside the standing: it counts for
# nothing, and is shown apart with what it claims (a seek by primary key per row).
_pending = sa.orm.aliased(Attempt, name="pending")
PENDING_COLUMNS = (_pending.score.label("pending_score"), _pending.max_score.label("pending_max_score"),
                   _pending.percentage.label("pending_percentage"))

# A cell's columns as plain rows: a page holds up to 2,500 cells, and loading as many ORM
# objects cost more than the rest of the page.
CELLS = (sa.select(Standing.student_id, Standing.exam_id, Standing.attempts_used, Standing.attempt_id, Standing.score,
                   Standing.max_score, Standing.percentage, Standing.score_source, Standing.flagged,
                   Standing.pending_attempt_id, *PENDING_COLUMNS)
         .outerjoin(_pending, _pending.id == Standing.pending_attempt_id)
         .where(Standing.student_id.in_(sa.bindparam("student_ids", expanding=True)),
                Standing.exam_id.in_(sa.bindparam("exam_ids", expanding=True))))


def cells(student_ids: list[int], exam_ids: list[int]) -> dict[tuple[int, int], sa.Row]:
    """The standings of these students at these exams, keyed by (student, exam); absent = not attempted."""
    if not student_ids or not exam_ids:
        return {}
    rows = db.session.execute(CELLS, {"student_ids": student_ids, "exam_ids": exam_ids})
    return {(row.student_id, row.exam_id): row for row in rows}


def not_offered(student_ids: list[int], exam_ids: list[int]) -> set[tuple[int, int]]:
    """The (student, exam) pairs where the exam is for batches the student is not in: two
    statements whatever the page, not a question per cell. An exam for everyone is for everyone."""
    if not student_ids or not exam_ids:
        return set()
    restricted: dict[int, set[int]] = {}
    for exam_id, batch_id in db.session.execute(sa.select(exam_batches.c.exam_id, exam_batches.c.batch_id)
                                                .where(exam_batches.c.exam_id.in_(exam_ids))):
        restricted.setdefault(exam_id, set()).add(batch_id)
    if not restricted:
        return set()
    theirs: dict[int, set[int]] = {}
    for student_id, batch_id in db.session.execute(
            sa.select(batch_members.c.user_id, batch_members.c.batch_id)
            .where(batch_members.c.user_id.in_(student_ids),
                   batch_members.c.batch_id.in_(set().union(*restricted.values())))):
        theirs.setdefault(student_id, set()).add(batch_id)
    return {(student_id, exam_id) for student_id in student_ids for exam_id, batches in restricted.items()
            if not batches & theirs.get(student_id, set())}


def gradebook_csv_rows(batch_id: int | None, sort_exam: int | None, exams: list[Exam]) -> Iterator[list]:
    """Every row of the gradebook as shown (all pages), a chunk of students at a time."""
    exam_ids = [exam.id for exam in exams]
    students = db.session.execute(gradebook_students(batch_id, sort_exam).with_only_columns(
        User.id, User.name, User.email)).all()
    for start in range(0, len(students), 500):
        chunk = students[start:start + 500]
        student_ids = [student.id for student in chunk]
        found, not_theirs = cells(student_ids, exam_ids), not_offered(student_ids, exam_ids)
        for student in chunk:
            row = [student.email, student.name]
            for exam_id in exam_ids:
                standing = found.get((student.id, exam_id))
                row += _csv_cell(standing, (student.id, exam_id) in not_theirs)
            yield row


def gradebook_csv_header(exams: list[Exam]) -> list[str]:
    header = ["email", "name"]
    for exam in exams:
        header += [f"{exam.title}: score", f"{exam.title}: percentage", f"{exam.title}: attempts",
                   f"{exam.title}: unverified claims"]
    return header


def _csv_cell(standing: sa.Row | None, not_theirs: bool) -> list:
    if standing is None:  # marked apart, as the page marks them
        return ["not for this student" if not_theirs else "not attempted", "", 0, ""]
    return [*_verified_score_fields(standing), standing.attempts_used, unverified_claims(standing)]


def _verified_score_fields(row: sa.Row) -> list[str]:
    """The score (its maximum only where Testpress reported it) and the percentage, as a CSV writes them."""
    if row.score is None:
        return ["", ""]
    score = f"{row.score:g}"
    if row.max_score is not None and not max_score_claimed(row):
        score += f" / {row.max_score:g}"
    return [score, "" if row.percentage is None else f"{row.percentage:.2f}"]


def unverified_claims(row: sa.Row) -> str:
    """What only the browser said beside a standing, for a CSV: the maximum beside a webhook's
    score, and a pending score (none of it counts or ranks)."""
    claims = [f"max score {row.max_score:g}"] if row.score is not None and max_score_claimed(row) else []
    if row.pending_attempt_id is not None:
        claims.append(f"pending {claim(row.pending_score, row.pending_max_score, row.pending_percentage)}")
    return "; ".join(claims)


def batch_choices() -> list[Batch]:
    return list(db.session.scalars(sa.select(Batch).order_by(Batch.archived_at.is_not(None), Batch.name)))


# ---------------------------------------------------------------------------------------
# An exam's report


@dataclass(frozen=True)
class ExamReport:
    students: int  # students with at least one attempt
    attempts: int  # the attempts used (grading.USED: a launch Testpress never saw uses none)
    completed: int  # students with a scored attempt (one that counts)
    mean: float | None  # of the counting percentages
    median: float | None
    top: float | None
    pending: int  # students whose latest score is the browser return's alone (counted nowhere)
    flagged: int  # the exam's attempts flagged, counting or not: what its link lists, to resolve
    bins: list[tuple[str, int]]  # the histogram: ("0–10%", count), lowest first
    timeline: list[tuple[date, int]]  # counting attempts completed per day (institute's zone)

    @property
    def completion_rate(self) -> float | None:
        return 100 * self.completed / self.students if self.students else None


def exam_report(exam: Exam) -> ExamReport:
    """The report's figures, from the exam's standings in one statement, and its flagged
    attempts counted in another (every flag, as the attempts list its link opens shows: a
    flag on a retake that does not count is still staff's to resolve). The count reads the
    partial index ix_attempts_exam_flagged, as many entries as there are flags (which staff
    resolve), not the exam's every attempt: its condition must stay `flagged IS true`."""
    rows = db.session.execute(
        sa.select(Standing.attempts_used, Standing.attempt_id, Standing.percentage, Standing.pending_attempt_id,
                  Standing.completed_at).where(Standing.exam_id == exam.id)
    ).all()
    counted = [row for row in rows if row.attempt_id is not None]
    percentages = [row.percentage for row in counted if row.percentage is not None]
    days = Counter(to_local(row.completed_at).date() for row in counted if row.completed_at is not None)
    return ExamReport(
        students=len(rows),
        attempts=sum(row.attempts_used for row in rows),
        completed=len(counted),
        mean=statistics.fmean(percentages) if percentages else None,
        median=statistics.median(percentages) if percentages else None,
        top=max(percentages, default=None),
        pending=sum(row.pending_attempt_id is not None for row in rows),
        flagged=db.session.scalar(sa.select(sa.func.count()).select_from(Attempt)
                                  .where(Attempt.exam_id == exam.id, Attempt.flagged.is_(True))),
        bins=histogram_bins(percentages),
        timeline=sorted(days.items()),
    )


def histogram_bins(percentages: list[float]) -> list[tuple[str, int]]:
    """Counts per tenth of the scale: 0–10% … 90–100% (100% itself in the last), with a
    "below 0%" bin only when negative marking produced one, and "above 100%" likewise."""
    counts = Counter()
    for value in percentages:
        if value < 0:
            counts["below"] += 1
        elif value > 100:
            counts["above"] += 1
        else:
            counts[min(int(value // BIN_WIDTH), 100 // BIN_WIDTH - 1)] += 1
    bins = [("below 0%", counts["below"])] if counts["below"] else []
    bins += [(f"{low * BIN_WIDTH}–{(low + 1) * BIN_WIDTH}%", counts[low]) for low in range(100 // BIN_WIDTH)]
    if counts["above"]:
        bins.append(("above 100%", counts["above"]))
    return bins


def rank_list(exam: Exam) -> sa.Select:
    """Students by their counting result at `exam`, best first, with a competition rank
    (1, 2, 2, 4) computed by the database; those without a result last, unranked."""
    rank = sa.case((Standing.percentage.is_not(None),
                    sa.func.rank().over(order_by=(Standing.percentage.is_(None), Standing.percentage.desc()))))
    return (sa.select(rank.label("rank"), User.id.label("student_id"), User.name, User.email,
                      Standing.attempt_id, Standing.score, Standing.max_score, Standing.percentage,
                      Standing.score_source, Standing.flagged, Standing.attempts_used, Standing.pending_attempt_id,
                      *PENDING_COLUMNS)
            .join(User, User.id == Standing.student_id)
            .outerjoin(_pending, _pending.id == Standing.pending_attempt_id)
            .where(Standing.exam_id == exam.id)
            .order_by(Standing.percentage.is_(None), Standing.percentage.desc(), User.name, User.id))


@dataclass(frozen=True)
class RowsPage:
    """A page of a select of columns, with what templates/macros.html's pager asks of a
    pagination (Flask-SQLAlchemy's own yields only each row's first column)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    has_prev = property(lambda self: self.page > 1)
    has_next = property(lambda self: self.page < self.pages)
    prev_num = property(lambda self: self.page - 1)
    next_num = property(lambda self: self.page + 1)


def rank_page(exam: Exam, page: int, total: int) -> RowsPage:
    """One page of the rank list; a page past the end shows the last one."""
    page = min(page, max(1, -(-total // RANKS_PER_PAGE)))
    rows = db.session.execute(rank_list(exam).limit(RANKS_PER_PAGE).offset((page - 1) * RANKS_PER_PAGE)).all()
    return RowsPage(rows, page, RANKS_PER_PAGE, total)


RANK_CSV_HEADER = ["rank", "email", "name", "score", "max score", "percentage", "unverified claims", "flagged",
                   "attempts"]


def rank_csv_rows(exam: Exam) -> Iterator[list]:
    """The rank list as shown: Testpress's own figures, the browser's claims apart."""
    for row in db.session.execute(rank_list(exam)):
        signed_max = row.max_score is not None and row.score is not None and not max_score_claimed(row)
        yield [row.rank or "", row.email, row.name,
               "" if row.score is None else f"{row.score:g}", f"{row.max_score:g}" if signed_max else "",
               "" if row.percentage is None else f"{row.percentage:.2f}", unverified_claims(row),
               "yes" if row.flagged else "no", row.attempts_used]
