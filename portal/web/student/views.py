"""The student's pages (their rows and statements are in rows.py)."""

from __future__ import annotations

import time
from datetime import UTC
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import abort, current_app, redirect, render_template, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from portal.attempts.launching import AttemptsUsedUp, LaunchFailed, resumable, resume_or_launch
from portal.core.clock import institute_zone, utcnow
from portal.core.database import DatabaseBusy
from portal.core.extensions import db
from portal.testpress.launch import launch_fields
from portal.testpress.settings import testpress_settings
from portal.testpress.signing import review_url
from portal.vocabulary import AttemptStatus
from portal.web.charts import Point, answer_breakdown_svg, percentage_line_svg
from portal.web.errors import error_response
from portal.web.formatting import confirmation, percent, review_note, score, status_badge, verification_badge, when
from portal.web.inputs import row_id
from portal.web.links import link
from portal.web.pagination import requested_page
from portal.web.student.blueprint import bp
from portal.web.student.rows import (
    ATTEMPTED_EXAMS,
    EXAMS_BATCHES,
    HISTORY_ROWS,
    LISTED_EXAMS,
    OFFERED_EXAM,
    OWN_ATTEMPT,
    PREVIEWED_EXAMS,
    PROGRESS,
    AttemptsExam,
    Card,
    ExamCard,
    HistoryRow,
    LatestAttempt,
    ProgressRow,
    ResultRow,
    RowPagination,
    exam_card,
)


def start_button(latest: LatestAttempt | None) -> str:
    """The label of an exam card's button: what pressing it will do (see resume_or_launch)."""
    if latest is None:
        return "Start"
    return "Resume" if resumable(latest) else "Retake"


def attempts_note(used: int, allowed: int | None) -> str:
    """The card's "1 of 2 attempts used", or "2 attempts" when there is no limit."""
    if allowed is not None:
        return f"{used} of {allowed} attempt{'s' if allowed != 1 else ''} used"
    return f"{used} attempt{'s' if used != 1 else ''}" if used else ""


# Memoised by everything a card shows, as the history's cells are (history_cells): the
# statement's row (the exam's columns, the latest attempt's with its score_source, the
# standing's), so the same student's same standing at the same exam is the same card, and any
# change to it (a new attempt, a webhook's score, the exam opening) is a new key. The row is
# made an ExamCard only when it is new.
@lru_cache(maxsize=4096)
def card(row: tuple, upcoming: bool, preview: bool, batches: tuple[str, ...], result_url: str,
         zone: ZoneInfo) -> Card:
    """An exam's card, its pieces written here rather than in the template, as the history's
    cells are (history_cells): a card's conditions, filters and lookups in Jinja were most
    of the exam list's own time (bench/README.md). The template places them; the exam's
    own words (title, description, instructions) are escaped there, by Jinja, and the
    pieces written here are the portal's own words but for batch names, escaped here."""
    exam = exam_card(row)
    last = exam.latest
    if upcoming:
        state = f'<span class="badge badge-upcoming">Upcoming</span> Opens {when(exam.opens_at, zone)}'
    elif last is None:
        state = '<span class="badge">Not started</span>'
    elif last.status == AttemptStatus.COMPLETED:
        # A score only the browser reported says so beside it, in the results page's words:
        # the card never shows the student's own claim as Testpress's.
        unverified = "" if last.verified or not last.has_scores else f" {verification_badge(last)}"
        state = f"{status_badge(last.status)} Score {score(last)} ({percent(last.percentage)}){unverified}"
    else:
        state = f"{status_badge(last.status)} {AttemptStatus(last.status).student_note}"
    standing = []
    if exam.counting:
        standing.append(f"<strong>{exam.counting.rule_label}: {score(exam.counting)}</strong>")
    if attempts := attempts_note(exam.attempts_used, exam.attempts_allowed):
        standing.append(f'<span class="muted">{attempts}</span>')
    button, note = "", ""
    if upcoming:
        pass
    elif preview:
        note = f"Staff preview: students press {start_button(last)} here."
    elif (exam.attempts_allowed is not None and exam.attempts_used >= exam.attempts_allowed
          and not resumable(last)):
        note = "You have used every attempt allowed."
    else:
        button = start_button(last)
    # An unfinished latest attempt has no result to open: its earlier attempts are in the history.
    if last is None:
        link = ""
    elif not AttemptStatus(last.status).resumable:
        link = f'<a href="{result_url}{last.id}">Latest result</a>'
    elif exam.attempts_used > 1:
        link = f'<a href="{result_url}?exam={exam.id}">My attempts at this exam</a>'
    else:
        link = ""
    # The card's facts in one piece, each line as the template had it: a Jinja test and
    # lookup a line was most of what a card cost to place (bench/README.md).
    facts = [f'<p class="exam-state">{state}</p>']
    if standing:
        facts.append(f'<p class="exam-standing">{" · ".join(standing)}</p>')
    if exam.closes_at and not upcoming:
        facts.append(f'<p class="muted">Closes {when(exam.closes_at, zone)}</p>')
    if preview:  # batch names are staff's words: escaped
        facts.append(f'<p class="muted">For: {escape(", ".join(batches))}</p>')
    after = f'<span class="muted">{note}</span>{link}' if note and not button else link
    return Card(exam.id, exam.title, exam.description, upcoming, Markup("\n".join(facts)),
                "" if upcoming else exam.instructions, button, Markup(after))


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
    listed = db.session.execute(statement, {"now": now, "student_id": current_user.id}).all()
    batches: dict[int, list[str]] = {}
    if preview and listed:
        for exam_id, name in db.session.execute(EXAMS_BATCHES, {"exam_ids": [exam.id for exam in listed]}):
            batches.setdefault(exam_id, []).append(name)
    result_url = link("student.attempts")  # "/attempts/<id>" is this and the id
    zone = institute_zone()
    cards = [card(tuple(row), ExamCard.is_upcoming(row, now), preview, tuple(batches.get(row.id, ["Everyone"])),
                  result_url, zone)
             for row in listed]
    return render_template(
        "student/exams.html",
        open_cards=[card for card in cards if not card.upcoming],
        upcoming_cards=[card for card in cards if card.upcoming],
        preview=preview,
        # "/exams/<id>/start" is this and the id (see the template).
        exams_url=link("student.exams"),
        result_url=result_url,
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
        # Testpress's word is still to come: the page fetches itself until it has (static/awaiting.js).
        awaiting=attempt.status == AttemptStatus.PENDING or (attempt.has_scores and not attempt.verified),
    )


# Memoised by the row itself (every column the cells show, the attempt's id among them), the
# prefix of its links and the zone of its time: a student who reloads their history gets the
# same cells without writing them again, and a changed row (a webhook's score, a new status)
# is a new key, so no cell is ever stale or anyone else's. About a kilobyte a row.
@lru_cache(maxsize=4096)
def history_cells(row: HistoryRow, result_url: str, zone: ZoneInfo) -> tuple[Markup, ...]:
    """One history row's cells, in the table's order, each Markup (the template writes them
    as they are). Written here rather than in the template, as the gradebook's cells are: a
    row's conditions, filters and attribute lookups in Jinja were most of the page's own time
    (bench/README.md). The title is the only text that is not the portal's own, and is escaped."""
    link, title = f"{result_url}{row.id}", escape(row.exam_title)
    review = Markup(f'<a href="{link}/review">Review<span class="visually-hidden"> {title}</span></a>')
    return (Markup(f'<a href="{link}">{when(row.started_at, zone)}</a>'), title, status_badge(row.status),
            escape(score(row)), escape(percent(row.percentage)), confirmation(row, review))


# Keyed by the chart's rows themselves (each attempt's exam, start, percentage and its source) and the
# zone, its only inputs: a student who reloads the history gets the same drawing without
# converting, labelling and drawing fifty points again, and new or changed rows (a webhook's
# new score) are a new key, so no drawing is ever stale or anyone else's. A few megabytes per
# worker at most.
@lru_cache(maxsize=512)
def progress_chart(completed: tuple[ProgressRow, ...], zone: ZoneInfo) -> Markup:
    """The history's percentage-over-time chart of PROGRESS's rows (newest first), oldest first,
    each point on the day the institute's clock showed (as the table beside it), not UTC's."""
    points = []
    for row in reversed(completed):
        day = row.started_at.replace(tzinfo=UTC).astimezone(zone).date()
        points.append(Point(f"{row.exam_title}, {day:%d %b %Y}", row.percentage, day, verified=row.verified))
    return percentage_line_svg(points)


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
    completed = tuple(map(ProgressRow._make, db.session.execute(PROGRESS[one_exam], params).all()))
    result_url = link("student.attempts")  # "/attempts/<id>" is this and the id
    zone = institute_zone()
    return render_template("student/attempts.html", page=page, exam_id=exam_id,
                           rows=[history_cells(row, result_url, zone) for row in page.items],
                           exams=db.session.execute(ATTEMPTED_EXAMS, params).all(),
                           chart=progress_chart(completed, zone))


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

