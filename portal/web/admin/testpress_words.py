"""Testpress's traffic in staff words: who a webhook delivery or an unmatched report is about,
which exam, and what happened, beside Testpress's own numbers.

Read from what is stored (a delivery's matched attempt, its payload as received) and from one
look-up each of the people, the exams and the open unmatched reports that a page's rows name,
so a page costs the same statements for one row as for fifty.

A refused delivery's payload is its sender's to write: the email, name and exam it names
are shown as it claims them, and never looked up or linked as if they were someone's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from portal.core.bulk import among
from portal.core.extensions import db
from portal.models import Exam, UnmatchedReport, User, WebhookDelivery
from portal.testpress.reports import BadReport, whole
from portal.vocabulary import AttemptStatus, ReportSource

# A payload's text is cut this short on a page: a claimed title may be kilobytes of anything.
SHOWN_CHARS = 120
NOTHING_RECORDED = "so nothing was recorded"

# What each refusal of portal.web.testpress.webhook (its reason, from portal.testpress.signing
# or the receiver) means, by how its reason begins; tests/web/admin/test_webhook_log.py sends
# each kind through the receiver, so a reworded reason shows there.
REFUSALS = (
    ("hash does not match", "the signature did not match"),
    ("missing hash", "it carried no signature"),
    ("hash is ", "its signature is not one Testpress makes"),
    ("key is not this institute's", "it was signed with another institute's key"),
    ("missing field(s)", "it lacks fields the signature covers"),
    ("malformed JSON body", "it is not a report the portal can read"),
    ("JSON body", "it is not a report the portal can read"),
    ("body of ", "it is too large to read"),
    ("body is over", "it is too large to read"),
    ("conflicts with an attempt already stored", "it contradicts an attempt the portal already holds"),
)


class Person(NamedTuple):
    id: int
    name: str
    email: str


class KnownExam(NamedTuple):
    id: int
    title: str


def _short(value) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _testpress_id(value) -> int | None:
    """A Testpress id the payload names, or None for one that cannot be any."""
    try:
        return whole(value, "id") if value is not None else None
    except BadReport:
        return None


@dataclass(frozen=True)
class Claims:
    """Who and which exam a payload names, in its own text: the webhook's `username` and
    `exam`, the Admin API's `name` and `exam_id`."""

    email: str | None = None
    name: str | None = None
    user_id: int | None = None
    exam_id: int | None = None
    exam_title: str | None = None

    @classmethod
    def read(cls, payload: str | None) -> Claims:
        """The claims of a stored payload; none for one not kept or not JSON (a refused body
        cut at its first few KiB)."""
        try:
            values = json.loads(payload) if payload else None
        except ValueError:
            values = None
        if not isinstance(values, dict):
            return cls()
        exam = values.get("exam") if isinstance(values.get("exam"), dict) else {}
        email = _short(values.get("email"))
        return cls(
            email=email.lower() if email else None,
            name=next((name for key in ("name", "first_name", "username") if (name := _short(values.get(key)))),
                      None),
            user_id=_testpress_id(values.get("user_id")),
            exam_id=_testpress_id(exam.get("id", values.get("exam_id"))),
            exam_title=_short(exam.get("title")),
        )


@dataclass(frozen=True)
class Told:
    """One delivery or unmatched report as staff read it."""

    claims: Claims
    verified: bool  # whether the claims are Testpress's word; a refused delivery's are not
    person: Person | None
    exam: KnownExam | None
    happened: str
    report_id: int | None = None  # the unmatched report a kept-aside delivery is waiting as


class Words:
    """The words for a page's deliveries and unmatched reports, with what they name looked up
    together: the people (by Testpress user id, else email, as matching asks), the exams (by
    Testpress id) and the open unmatched reports of the kept-aside deliveries."""

    def __init__(self, deliveries: Iterable[WebhookDelivery] = (), reports: Iterable[UnmatchedReport] = ()):
        deliveries = list(deliveries)
        self._claims = {("delivery", row.id): Claims.read(row.payload) for row in deliveries}
        self._claims |= {("report", row.id): Claims.read(row.payload) for row in reports}
        # A refused delivery's claims are nobody's word, and a matched one's student is its attempt's.
        looked_up = [claims for (kind, _), claims in self._claims.items() if kind == "report"]
        looked_up += [self._claims["delivery", row.id] for row in deliveries if row.verified and row.attempt is None]
        self._people_by_user_id, self._people_by_email = _people(looked_up)
        self._exams = _exams(looked_up)
        kept_aside = {delivery.testpress_attempt_id for delivery in deliveries
                      if delivery.outcome == "unmatched" and delivery.testpress_attempt_id}
        self._open_reports = _open_reports(kept_aside)

    def delivery(self, delivery: WebhookDelivery) -> Told:
        claims = self._claims["delivery", delivery.id]
        if not delivery.verified:
            return Told(claims, False, None, None, refused(delivery.reason))
        if delivery.attempt is not None:
            student, exam = delivery.attempt.student, delivery.attempt.exam
            return Told(claims, True, Person(student.id, student.name, student.email), KnownExam(exam.id, exam.title),
                        _received(delivery))
        person, exam = self._person(claims), self._exam(claims)
        if delivery.outcome != "unmatched":
            return Told(claims, True, person, exam, _received(delivery))
        report_id, reason = self._open_reports.get(delivery.testpress_attempt_id, (None, None))
        if reason is None and person and exam:  # matching ends an attempt's unmatched report
            return Told(claims, True, person, exam, "Kept aside when it came; a later report has matched it since.")
        return Told(claims, True, person, exam, kept_aside(claims, person, exam, reason or ""), report_id)

    def report(self, report: UnmatchedReport) -> Told:
        claims = self._claims["report", report.id]
        person, exam = self._person(claims), self._exam(claims)
        return Told(claims, True, person, exam, kept_aside(claims, person, exam, report.reason), report.id)

    def _person(self, claims: Claims) -> Person | None:
        return self._people_by_user_id.get(claims.user_id) or self._people_by_email.get(claims.email)

    def _exam(self, claims: Claims) -> KnownExam | None:
        return self._exams.get(claims.exam_id)


def _people(claims: list[Claims]) -> tuple[dict[int, Person], dict[str, Person]]:
    user_ids = {claim.user_id for claim in claims if claim.user_id is not None}
    emails = {claim.email for claim in claims if claim.email}
    by_user_id, by_email = {}, {}
    named = [among(column, values) for column, values in ((User.testpress_user_id, user_ids), (User.email, emails))
             if values]
    if named:
        rows = db.session.execute(
            sa.select(User.id, User.name, User.email, User.testpress_user_id).where(sa.or_(*named)))
        for user_id, name, email, testpress_user_id in rows:
            person = by_email[email.lower()] = Person(user_id, name, email)
            if testpress_user_id is not None:
                by_user_id[testpress_user_id] = person
    return by_user_id, by_email


def _exams(claims: list[Claims]) -> dict[int, KnownExam]:
    exam_ids = {claim.exam_id for claim in claims if claim.exam_id is not None}
    if not exam_ids:
        return {}
    rows = db.session.execute(
        sa.select(Exam.id, Exam.title, Exam.testpress_id).where(among(Exam.testpress_id, exam_ids)))
    return {testpress_id: KnownExam(exam_id, title) for exam_id, title, testpress_id in rows}


def _open_reports(testpress_attempt_ids: set[str]) -> dict[str, tuple[int, str]]:
    """The webhook's unmatched report of each attempt still waiting to be matched: (id, reason)."""
    if not testpress_attempt_ids:
        return {}
    rows = db.session.execute(
        sa.select(UnmatchedReport.id, UnmatchedReport.testpress_attempt_id, UnmatchedReport.reason).where(
            UnmatchedReport.source == ReportSource.WEBHOOK,
            among(UnmatchedReport.testpress_attempt_id, testpress_attempt_ids)))
    return {testpress_attempt_id: (report_id, reason) for report_id, testpress_attempt_id, reason in rows}


def _received(delivery: WebhookDelivery) -> str:
    if delivery.outcome == "unchanged":
        return "A repeat of an earlier delivery: nothing new to record."
    if (delivery.attempt_state or "").lower() == AttemptStatus.STARTED:
        return "Recorded: the student started the exam."
    return "Recorded: the student's result."


def kept_aside(claims: Claims, person: Person | None, exam: KnownExam | None, reason: str) -> str:
    """Why a verified report waits as unmatched: what the portal lacks, as it stands now."""
    missing = []
    if person is None:
        missing.append("no student with this email" if claims.email else "no student with this Testpress user id")
    if exam is None:
        missing.append("the exam is not set up in the portal")
    if missing:
        return f"Kept aside: {' and '.join(missing)}."
    if reason.startswith("no portal"):  # both were added since it came
        return "Kept aside when it came; the student and the exam are in the portal now, so a sync matches it."
    return f"Kept aside: {reason}."


def refused(reason: str | None) -> str:
    """A refused delivery's reason as a sentence; one not in REFUSALS is a signed report the
    portal could not read (portal.testpress.reports.BadReport), its reason kept."""
    reason = reason or ""
    words = next((words for start, words in REFUSALS if reason.startswith(start)), None)
    if words is None:
        words = f"the signature matched but the report is unreadable ({reason})" if reason else "no reason was kept"
    return f"Refused: {words}, {NOTHING_RECORDED}."
