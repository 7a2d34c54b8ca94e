"""Import from Testpress: the Admin API's exams, page by page, marked where a portal exam is
linked to them already; staff link chosen ones to portal exams or create portal exams for them.

Testpress unreachable, refusing the credentials or failing is said on the page (the client
raises TestpressError for all of them), never a 500, and then nothing is written.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.database import LARGEST_ID, whole_number, write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.exams.rules import (
    MAX_TITLE_LENGTH,
    BadExamUrl,
    check_exam_url,
    import_exam,
    link_exam,
)
from portal.models import Exam
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings
from portal.web.admin.actions import require_button
from portal.web.admin.blueprint import bp
from portal.web.forms import ActionForm
from portal.web.inputs import query_int

PER_PAGE = 25
NEW = "new"  # the target that creates a portal exam rather than linking one


class TestpressExam(NamedTuple):
    """One exam of the Admin API's list, as the page uses it."""

    __test__ = False

    testpress_id: int
    title: str
    url: str | None  # None where the API gives none (or none the portal would send students to)


def testpress_client() -> TestpressClient:
    """The Admin API client for this page: one retry, since a person waits for the answer.
    Raises TestpressError when the settings lack an address or an account."""
    return TestpressClient.from_settings(testpress_settings(), max_retries=1)


def read_exam(item: dict) -> TestpressExam | None:
    """An API exam as the page shows it; None for one without a usable id."""
    raw_id = item.get("id")
    testpress_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else (
        whole_number(raw_id) if isinstance(raw_id, str) else None)
    if testpress_id is None or not 1 <= testpress_id <= LARGEST_ID:
        return None
    title = " ".join(str(item.get("title") or "").split())[:MAX_TITLE_LENGTH] or f"Testpress exam {testpress_id}"
    try:
        url = check_exam_url(item.get("url")) if isinstance(item.get("url"), str) else None
    except BadExamUrl:
        url = None
    return TestpressExam(testpress_id, title, url)


def fetch_page(page: int) -> tuple[list[TestpressExam], int, int]:
    """One page of Testpress's exams, the number skipped as unusable, and the total count."""
    answered = testpress_client().exams_page(page, page_size=PER_PAGE)
    found = [read_exam(item) if isinstance(item, dict) else None for item in answered.results]
    return [exam for exam in found if exam], sum(exam is None for exam in found), answered.count


def render_import(page: int, *, error: str | None = None, fetch: bool = True, status: int = 200):
    """The page; `error` is said above the list (which is fetched unless `fetch` is false)."""
    exams, skipped, total = [], 0, 0
    if fetch:
        try:
            exams, skipped, total = fetch_page(page)
        except TestpressError as failure:
            current_app.logger.warning("import: Testpress exams page %s failed: %s", page, failure)
            error = " ".join(filter(None, (error, f"{failure}.")))
    ids = [exam.testpress_id for exam in exams]
    linked = dict(db.session.execute(sa.select(Exam.testpress_id, Exam).where(Exam.testpress_id.in_(ids))).all()
                  ) if ids else {}
    unlinked = db.session.execute(sa.select(Exam.id, Exam.title).where(
        Exam.testpress_id.is_(None), Exam.archived_at.is_(None)).order_by(Exam.title)).all()
    pages = max(1, -(-total // PER_PAGE))
    return render_template("admin/exams/exam_import.html", exams=exams, skipped=skipped, total=total, page=page,
                           pages=pages, linked=linked, unlinked=unlinked, error=error, action=ActionForm(),
                           new=NEW), status


@bp.get("/exams/import", endpoint="import_exams")
def import_exams():
    """Testpress's exams, ?page=N of them, each linked or offered to link or create."""
    return render_import(query_int("page", maximum=LARGEST_ID // PER_PAGE) or 1)


@bp.post("/exams/import", endpoint="import_exams_save")
def import_exams_save():
    """Link or create portal exams for the chosen Testpress exams of the page, in one
    transaction: all or, on any refusal, none. 400 without a CSRF token; Testpress failing
    now is said on the page (502), nothing written."""
    require_button()
    page = whole_number(request.form.get("page", "1"), maximum=LARGEST_ID // PER_PAGE) or 1
    chosen = list(dict.fromkeys(number for text in request.form.getlist("choose")
                                if (number := whole_number(text)) is not None))
    if not chosen:
        flash("Tick at least one Testpress exam to import.", "error")
        return redirect(url_for("admin.import_exams", page=page))
    # Asked of Testpress again, so that what is stored is Testpress's word, not the form's.
    try:
        exams, _skipped, _total = fetch_page(page)
    except TestpressError as failure:
        current_app.logger.warning("import: Testpress exams page %s failed: %s", page, failure)
        return render_import(page, error=f"{failure}. Nothing was imported.", fetch=False, status=502)
    on_page = {exam.testpress_id: exam for exam in exams}
    try:
        with write_transaction():  # owns which exams are linked to the commit: a second press finds them so
            created, linked = import_chosen(chosen, on_page)
    except DomainError as refusal:
        current_app.logger.info("import: refused: %s", refusal)
        return render_import(page, error=f"Nothing was imported: {refusal}.", status=422)
    parts = [f"created {len(created)} draft exam{'s' if len(created) != 1 else ''}"] if created else []
    parts += [f"linked {len(linked)} exam{'s' if len(linked) != 1 else ''}"] if linked else []
    flash(f"Imported from Testpress: {' and '.join(parts)}. Drafts are hidden from students until you "
          "publish them.", "success")
    return redirect(url_for("admin.import_exams", page=page))


def import_chosen(chosen: list[int], on_page: dict) -> tuple[list[str], list[str]]:
    """Create or link a portal exam for each chosen Testpress exam (each service writes its
    audit entry); the titles created and linked. Raises DomainError, for the caller to roll all
    of them back."""
    created, linked = [], []
    for testpress_id in chosen:
        found = on_page.get(testpress_id)
        if found is None:
            raise DomainError("choose", f"Testpress exam {testpress_id} is no longer on this page of Testpress's list")
        target = request.form.get(f"target-{testpress_id}", NEW)
        if target == NEW:
            exam = import_exam(testpress_id, found.title, found.url, by=current_user)
            created.append(exam.title)
        else:
            exam_id = whole_number(target)
            exam = db.session.get(Exam, exam_id) if exam_id else None
            if exam is None or exam.testpress_id is not None:
                raise DomainError("target", f"the portal exam chosen for Testpress exam {testpress_id} "
                                          "is gone or linked already")
            link_exam(exam, testpress_id, found.url, by=current_user)
            linked.append(exam.title)
    return created, linked
