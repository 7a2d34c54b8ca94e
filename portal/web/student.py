"""The student's pages: the exams to take, the signed launch, results, history and review links."""

from __future__ import annotations

import time
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_sqlalchemy.pagination import SelectPagination
from markupsafe import Markup, escape

from portal.attempts.launching import (
    AttemptsUsedUp,
    LaunchFailed,
    resumable,
    resume_or_launch,
)
from portal.core.clock import to_local, utcnow
from portal.core.database import DatabaseBusy
from portal.core.extensions import db
from portal.exams.rules import offered_to
from portal.models import Attempt, Batch, Exam, Standing, exam_batches
from portal.testpress.launch import launch_fields
from portal.testpress.settings import testpress_settings
from portal.testpress.signing import review_url
from portal.vocabulary import AttemptStatus, CountingRule
from portal.web.charts import Point, answer_breakdown_svg, percentage_line_svg
from portal.web.errors import error_response
from portal.web.formatting import confirmation, percent, review_note, score, status_badge, when
from portal.web.forms import ActionForm
from portal.web.inputs import row_id
from portal.web.pagination import requested_page

bp = Blueprint("student", __name__)

PROGRESS_POINTS = 50  # the history chart shows the latest completed attempts, oldest first


def start_button(latest: LatestAttempt | None) -> str:
    """The label of an exam card's button: what pressing it will do (see resume_or_launch)."""
    if latest is None:
        return "Start"
    return "Resume" if resumable(latest) else "Retake"


@bp.before_request
@login_required
def require_login():
    """Every student page needs a logged-in person (Flask-Login redirects to /login)."""


# The pages' statements are built once and run with each request's values: building and
# compiling a statement anew took about as long as running it. They name the tables'
# columns rather than the models' attributes: a select the ORM need not interpret runs in
# half the time (bench/README.md).
_exams, _attempts, _standings = Exam.__table__, Attempt.__table__, Standing.__table__
NOT_CLOSED = sa.or_(_exams.c.closes_at.is_(None), _exams.c.closes_at > sa.bindparam("now"))
_WITH_EXAM = _attempts.join(_exams, _exams.c.id == _attempts.c.exam_id)


class LatestAttempt(NamedTuple):
    """A student's latest attempt at an exam, as its card shows it."""

    id: int
    status: str
    score: float | None
    max_score: float | None
    percentage: float | None
    institute_attempt_id: int | None


class CountingResult(NamedTuple):
    """The attempt that counts by the exam's rule, as its card shows it ("Best: 14 / 20")."""

    rule_label: str
    score: float
    max_score: float | None


class ExamCard(NamedTuple):
    """One exam of the list with the student's latest attempt at it and their standing (the
    attempts made and the counting result): one row of one statement, read as a plain tuple."""

    id: int
    title: str
    description: str
    instructions: str
    opens_at: datetime | None
    closes_at: datetime | None
    attempts_allowed: int | None
    counting_rule: str
    latest: LatestAttempt | None
    attempts_used: int
    counting: CountingResult | None

    is_upcoming = Exam.is_upcoming


_CARD_EXAM_FIELDS = ExamCard._fields[:ExamCard._fields.index("latest")]  # the exam's own columns
_latest = _attempts.alias("latest")
# The student's most recent attempt at each listed exam, by the history's order.
_LATEST_ID = (sa.select(_attempts.c.id)
              .where(_attempts.c.student_id == sa.bindparam("student_id"), _attempts.c.exam_id == _exams.c.id)
              .order_by(_attempts.c.started_at.desc(), _attempts.c.id.desc()).limit(1).scalar_subquery())
_CARDS = (
    sa.select(*(_exams.c[name] for name in _CARD_EXAM_FIELDS),
              *(_latest.c[name] for name in LatestAttempt._fields),
              _standings.c.attempts_used, _standings.c.attempt_id, _standings.c.score, _standings.c.max_score)
    .outerjoin(_standings, sa.and_(_standings.c.exam_id == _exams.c.id,
                                   _standings.c.student_id == sa.bindparam("student_id")))
    .outerjoin(_latest, _latest.c.id == _LATEST_ID)
    .order_by(_exams.c.title, _exams.c.id)
)
LISTED_EXAMS = _CARDS.where(offered_to(sa.bindparam("student_id")), NOT_CLOSED)
# What staff see when they open the students' list: every exam a student could be offered.
PREVIEWED_EXAMS = _CARDS.where(_exams.c.published, _exams.c.archived_at.is_(None), NOT_CLOSED)
EXAMS_BATCHES = (sa.select(exam_batches.c.exam_id, Batch.name).join(Batch, Batch.id == exam_batches.c.batch_id)
                 .where(exam_batches.c.exam_id.in_(sa.bindparam("exam_ids", expanding=True))).order_by(Batch.name))
OFFERED_EXAM = sa.select(Exam).where(Exam.id == sa.bindparam("exam_id"), offered_to(sa.bindparam("student_id")))


class Card(NamedTuple):
    """What an exam's card shows. A tuple, not a dict: Jinja reads `card.button` as an
    attribute first, and a dict answers that with an exception, a dozen times a card."""

    exam: ExamCard
    latest: LatestAttempt | None
    upcoming: bool
    button: str
    used_up: bool
    attempts: str
    counting: CountingResult | None
    batches: list[str]


def exam_card(row: sa.Row) -> ExamCard:
    """One row of LISTED_EXAMS (or PREVIEWED_EXAMS), its columns in ExamCard's and LatestAttempt's order."""
    exam_end = len(_CARD_EXAM_FIELDS)
    latest_end = exam_end + len(LatestAttempt._fields)
    exam, latest = row[:exam_end], row[exam_end:latest_end]
    used, counting_id, score, max_score = row[latest_end:]
    counting = None if counting_id is None else CountingResult(CountingRule(row.counting_rule).short_label,
                                                               score, max_score)
    return ExamCard(*exam, LatestAttempt(*latest) if latest[0] is not None else None, used or 0, counting)


def attempts_note(used: int, allowed: int | None) -> str:
    """The card's "1 of 2 attempts used", or "2 attempts" when there is no limit."""
    if allowed is not None:
        return f"{used} of {allowed} attempt{'s' if allowed != 1 else ''} used"
    return f"{used} attempt{'s' if used != 1 else ''}" if used else ""


@bp.get("/exams/")
def exams():
    """The student's home: the exams for them (for everyone or one of their batches), open
    now or upcoming, each with the student's state, attempts used and counting score.

    Staff opening it see a preview: every published exam with the batches it is for, and
    no Start buttons. One statement (two for the preview) whatever the number of exams.
    """
    now = utcnow()
    preview = current_user.is_staff
    statement = PREVIEWED_EXAMS if preview else LISTED_EXAMS
    listed = [exam_card(row) for row in db.session.execute(statement, {"now": now, "student_id": current_user.id})]
    batches: dict[int, list[str]] = {}
    if preview and listed:
        for exam_id, name in db.session.execute(EXAMS_BATCHES, {"exam_ids": [exam.id for exam in listed]}):
            batches.setdefault(exam_id, []).append(name)
    cards = []
    for exam in listed:
        last = exam.latest
        used_up = (exam.attempts_allowed is not None and exam.attempts_used >= exam.attempts_allowed
                   and not resumable(last))
        cards.append(Card(exam, last, exam.is_upcoming(now), start_button(last), used_up,
                          attempts_note(exam.attempts_used, exam.attempts_allowed), exam.counting,
                          batches.get(exam.id, ["Everyone"])))
    return render_template(
        "student/exams.html",
        open_cards=[card for card in cards if not card.upcoming],
        upcoming_cards=[card for card in cards if card.upcoming],
        preview=preview,
        form=ActionForm(),
        # "/exams/<id>/start" and "/attempts/<id>" are these and an id (see the templates).
        exams_url=url_for("student.exams"),
        result_url=url_for("student.attempts"),
    )


@bp.post("/exams/<int:exam_id>/start")
def start(exam_id: int):
    """Record a launch and answer the self-submitting form signed for Testpress.

    CSRF-protected (400 without a valid token). 404 for an exam that is not for this
    student (unknown, unpublished, archived, or for batches they are not in: the same
    answer, so that nobody learns which exams exist); 403 for an exam that is closed or not
    open yet, for a new attempt beyond the attempts allowed, and for staff (who preview the
    list). Nothing is recorded on a refusal.
    """
    if current_user.is_staff:
        return error_response(403, "Staff accounts preview the exam list; log in with a student account "
                                   "to take an exam.")
    exam = db.session.scalars(OFFERED_EXAM, {"exam_id": exam_id, "student_id": current_user.id}).one_or_none()
    if exam is None:
        abort(404)
    now = utcnow()
    if not exam.can_start(now):
        reason = "is not open yet" if exam.is_upcoming(now) else "has closed"
        current_app.logger.info("start: user %s refused exam %s, which %s", current_user.id, exam.id, reason)
        if exam.is_upcoming(now):
            opens = when(exam.opens_at).striptags()  # plain text: the message is escaped
            detail = f"“{exam.title}” is not open yet: it opens {opens}. Come back then to start it."
        else:  # closed, or archived by staff
            detail = (f"“{exam.title}” has closed, so it cannot be started any more. "
                      "Your results from it stay in My attempts.")
        return error_response(403, detail, back=(url_for("student.exams"), "Back to my exams"))
    try:
        attempt = resume_or_launch(current_user, exam)
    except AttemptsUsedUp as refusal:
        current_app.logger.info("start: user %s refused exam %s: %s attempts used", current_user.id, exam_id,
                                refusal.used)
        return error_response(403, str(refusal))
    except DatabaseBusy:
        current_app.logger.warning("start: user %s could not launch exam %s: database busy", current_user.id, exam.id)
        return error_response(503, "The portal is very busy just now and could not start the exam. "
                                   "Nothing was recorded: please press Start again in a few seconds.",
                              back=(url_for("student.exams"), "Back to my exams"))
    except LaunchFailed as failure:
        current_app.logger.error("start: user %s could not launch exam %s: %s", current_user.id, exam.id, failure)
        return error_response(503, "The exam could not be started just now: the portal could not prepare the "
                                   "link to Testpress. Nothing was recorded; please try again in a moment, and "
                                   "tell the institute's staff if it keeps happening.",
                              back=(url_for("student.exams"), "Back to my exams"))
    current_app.logger.info("start: user %s launched exam %s as institute_attempt_id %s",
                            current_user.id, exam.id, attempt.institute_attempt_id)
    fields = launch_fields(attempt, url_for("testpress_return.receive_return", _external=True), testpress_settings())
    # The page holds a live signature: like every page, it is sent no-store (create_app).
    return render_template("student/launch.html", exam=exam, fields=fields)


READ_RULES = ("verified", "has_scores", "reviewable")


def with_attempt_rules(*names: str):
    """A class decorator: a plain row of an attempt's columns, given the model's rules `names`
    on them (properties of Attempt, borrowed, never restated)."""
    def borrow(row_class: type) -> type:
        for name in names:
            setattr(row_class, name, getattr(Attempt, name))
        return row_class
    return borrow


class AttemptsExam(NamedTuple):
    """What the results page reads of an attempt's exam: its title, and whether it is open."""

    id: int
    title: str
    published: bool
    archived_at: datetime | None
    opens_at: datetime | None
    closes_at: datetime | None

    is_upcoming, is_closed, state, can_start = Exam.is_upcoming, Exam.is_closed, Exam.state, Exam.can_start


@with_attempt_rules(*READ_RULES, "claimed_fields")
class ResultRow(NamedTuple):
    """One attempt as its results page and its review link read it, with its exam."""

    id: int
    student_id: int
    exam_id: int
    status: str
    institute_attempt_id: int | None
    testpress_attempt_id: str | None
    score_source: str | None
    started_at: datetime
    completed_at: datetime | None
    total_count: int | None
    correct_count: int | None
    incorrect_count: int | None
    unanswered_count: int | None
    score: float | None
    max_score: float | None
    percentage: float | None
    rank: int | None
    max_rank: int | None
    exam: AttemptsExam


# With its exam in the same statement: the results page shows the exam's title and rules.
OWN_ATTEMPT = (sa.select(*(_attempts.c[name] for name in ResultRow._fields[:-1]),
                         *(_exams.c[name] for name in AttemptsExam._fields))
               .select_from(_WITH_EXAM).where(_attempts.c.id == sa.bindparam("attempt_id")))


def own_attempt(attempt_id: int) -> ResultRow:
    """The attempt, if the current person may see it (its student, or staff); 404 otherwise.

    404 rather than 403, so that nobody learns which attempt ids exist.
    """
    row = db.session.execute(OWN_ATTEMPT, {"attempt_id": attempt_id}).one_or_none()
    if row is None or (row.student_id != current_user.id and not current_user.is_staff):
        abort(404)
    split = len(ResultRow._fields) - 1
    return ResultRow(*row[:split], AttemptsExam(*row[split:]))


@bp.get("/attempts/<int:attempt_id>")
def result(attempt_id: int):
    """One attempt's result, where the return lands. 404 unless it is the student's own (or staff's view)."""
    attempt = own_attempt(attempt_id)
    return render_template(
        "student/result.html",
        attempt=attempt,
        chart=answer_breakdown_svg(attempt.correct_count, attempt.incorrect_count, attempt.unanswered_count),
        # Only its own student resumes an attempt, and only while the exam is open.
        can_resume=(resumable(attempt) and attempt.student_id == current_user.id
                    and attempt.exam.can_start(utcnow())),
        form=ActionForm(),
    )


@with_attempt_rules(*READ_RULES)
class HistoryRow(NamedTuple):
    """One line of the history: only the columns the table shows, read as a plain tuple.

    Twenty ORM attempts, each with its exam, cost more to build than the whole page's
    SQL; the rules on them stay the model's own (with_attempt_rules).
    """

    id: int
    started_at: datetime
    status: str
    score: float | None
    max_score: float | None
    percentage: float | None
    score_source: str | None
    testpress_attempt_id: str | None
    institute_attempt_id: int | None
    exam_title: str


def history_cells(row: HistoryRow, result_url: str) -> tuple[Markup, ...]:
    """One history row's cells, in the table's order. Written here rather than in the
    template, as the gradebook's cells are: a row's conditions, filters and attribute
    lookups in Jinja were most of the page's own time (bench/README.md). The title is the
    only text that is not the portal's own, and is escaped."""
    link, title = f"{result_url}{row.id}", escape(row.exam_title)
    review = Markup(f'<a href="{link}/review">Review<span class="visually-hidden"> {title}</span></a>')
    return (Markup(f'<a href="{link}">{when(row.started_at)}</a>'), title, status_badge(row.status),
            escape(score(row)), percent(row.percentage), confirmation(row, review))


# The select's columns, in HistoryRow's order.
HISTORY_COLUMNS = (*(_attempts.c[name] for name in HistoryRow._fields[:-1]), _exams.c.title)


class RowPagination(SelectPagination):
    """`db.paginate`'s page arithmetic over a select of columns: its items are HistoryRows.

    Flask-SQLAlchemy's own pagination answers only each row's first column (`.scalars()`),
    and counts in a second statement; here the rows carry the count (a window over the
    whole selection, which both databases evaluate before LIMIT). `select` takes its
    `limit` and `offset` as parameters, beside `params`. Built as `db.paginate` builds its
    own, through the two hooks Flask-SQLAlchemy documents for subclasses.
    """

    def _query_items(self) -> list:
        params = {**self._query_args["params"], "limit": self.per_page, "offset": self._query_offset}
        rows = self._query_args["session"].execute(self._query_args["select"], params).all()
        self._total = rows[0][-1] if rows else None
        return [HistoryRow(*row[:-1]) for row in rows]

    def _query_count(self) -> int:
        if self._total is None and self.page > 1:
            # Past the last page (portal.web.pagination then asks for the last): only a count says where it is.
            select = self._query_args["select"]
            counted = sa.select(sa.func.count()).select_from(select.limit(None).offset(None).order_by(None).subquery())
            return self._query_args["session"].scalar(counted, self._query_args["params"])
        return self._total or 0


def _students(statement: sa.Select, one_exam: bool) -> sa.Select:
    """The statement narrowed to the student's attempts, and to one exam's with `one_exam`."""
    statement = statement.where(_attempts.c.student_id == sa.bindparam("student_id"))
    return statement.where(_attempts.c.exam_id == sa.bindparam("exam_id")) if one_exam else statement


NEWEST_FIRST = (_attempts.c.started_at.desc(), _attempts.c.id.desc())
# Keyed by whether the history is filtered to one exam.
HISTORY_ROWS = {
    one_exam: _students(sa.select(*HISTORY_COLUMNS, sa.func.count().over()).select_from(_WITH_EXAM), one_exam)
    .order_by(*NEWEST_FIRST).limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))
    for one_exam in (False, True)
}
PROGRESS = {
    one_exam: _students(sa.select(_exams.c.title, _attempts.c.started_at, _attempts.c.percentage)
                        .select_from(_WITH_EXAM),
              one_exam)
    .where(_attempts.c.status == AttemptStatus.COMPLETED, _attempts.c.percentage.is_not(None))
    .order_by(*NEWEST_FIRST).limit(PROGRESS_POINTS)
    for one_exam in (False, True)
}
ATTEMPTED_EXAMS = (sa.select(_exams.c.id, _exams.c.title)
                   .where(_exams.c.id.in_(_students(sa.select(_attempts.c.exam_id), one_exam=False)))
                   .order_by(_exams.c.title))


@bp.get("/attempts/")
def attempts():
    """Every attempt of the student, newest first, paginated, filterable by ?exam=<id>.

    A constant number of statements whatever the history's length: the page's rows with
    their count, the chart's latest points and the exams for the filter.
    """
    exam_id = row_id("exam")
    one_exam = bool(exam_id)
    params = {"student_id": current_user.id, "exam_id": exam_id}
    per_page = current_app.config["ATTEMPTS_PER_PAGE"]
    page = requested_page(lambda number: RowPagination(
        select=HISTORY_ROWS[one_exam], params=params, session=db.session(),
        page=number, per_page=per_page, max_per_page=None, error_out=False), per_page)
    completed = db.session.execute(PROGRESS[one_exam], params).all()
    # The day the institute's clock showed (as the table beside it), not UTC's.
    days = [(title, to_local(started).date(), percentage) for title, started, percentage in reversed(completed)]
    points = [Point(f"{title}, {day:%d %b %Y}", percentage, day) for title, day, percentage in days]
    result_url = url_for("student.attempts")  # "/attempts/<id>" is this and the id
    return render_template("student/attempts.html", page=page, exam_id=exam_id,
                           rows=[history_cells(row, result_url) for row in page.items],
                           exams=db.session.execute(ATTEMPTED_EXAMS, params).all(),
                           chart=percentage_line_svg(points))


@bp.get("/attempts/<int:attempt_id>/review")
def review(attempt_id: int):
    """Sign Testpress's review link now and redirect (302) to it.

    404 unless the attempt is the student's own (staff may open any), and 404 with an
    explanation when Testpress has not reported the attempt yet (no attempt_id to review)
    or it was taken on Testpress directly (no institute_attempt_id to sign: see
    Attempt.reviewable).
    """
    attempt = own_attempt(attempt_id)
    if not attempt.reviewable:
        not_here = "here" if attempt.institute_attempt_id is None else "yet"
        return error_response(404, f"There is no review of this attempt {not_here}. {review_note(attempt)}",
                              back=(url_for("student.result", attempt_id=attempt.id), "Back to this attempt"))
    settings = testpress_settings()
    # Signed at click time: a review signature lives only 30 minutes.
    target = review_url(
        settings.base_url, settings.secret,
        attempt_id=attempt.testpress_attempt_id,
        institute_attempt_id=attempt.institute_attempt_id,  # reviewable: never None here
        key=settings.public_key,
        time=int(time.time()),
        encoding=settings.encoding,
    )
    current_app.logger.info("review: user %s opened attempt %s", current_user.id, attempt.id)
    return redirect(target, 302)  # no-store, as every response but a static file (create_app)

