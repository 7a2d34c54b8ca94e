"""Finding the portal attempt a Testpress report is about, for the webhook and the sync alike.

A report is matched, in this order:

1. by ``institute_attempt_id``: the portal's own reference, sent with every launch;
2. by Testpress's ``attempt_id``, learnt from an earlier signed report;
3. by the student (Testpress user id, else email) and the exam (its Testpress id): the
   student's attempt whose browser return claimed this Testpress id, else the student's
   latest open launch of that exam, or else a new attempt, because a student may take an
   exam on Testpress without going through the portal. An open launch is one whose
   Testpress attempt has no result yet, a paused ("Take later") one included: the student
   may have resumed and finished it since (portal.vocabulary.UNFINISHED_STATUSES).

Whatever finds it, the attempt must be the reporting student's own: a signed report naming
another student's attempt (a student can make the portal believe their launch is any
Testpress attempt, since the return's hmac does not cover its id) is never applied.

A report that cannot be matched (an unknown student or exam, another student's attempt,
a Testpress id already recorded on another launch) is not dropped: it is kept as one
UnmatchedReport per (source, Testpress attempt) for staff to see, and removed again once a
later report of that attempt matches.

`AttemptMatcher` works on a batch of reports with a handful of IN queries, so the sync
matches a page of a thousand attempts as cheaply as the webhook matches one. It reads
students and exams as plain rows, and attempts, with their reports, as ORM objects for both.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from portal.core.bulk import among, listed
from portal.core.clock import utcnow
from portal.core.database import Key, require_key
from portal.core.extensions import db
from portal.core.objects import new_object
from portal.models import Attempt, Exam, UnmatchedReport, User
from portal.testpress.reports import ReportedAttempt
from portal.vocabulary import UNFINISHED_STATUSES, AttemptStatus, ReportSource

# A launch is stamped by the portal's clock, a report's start by Testpress's: allow for skew.
CLOCK_SLACK = timedelta(minutes=10)


# Plain tuples rather than SQLAlchemy's rows, whose attributes cost ten times as much to
# read, and matching reads several per report.
class KnownStudent(NamedTuple):
    id: int
    email: str
    testpress_user_id: int | None


class KnownExam(NamedTuple):
    id: int
    testpress_id: int


_users, _exams, _unmatched = User.__table__, Exam.__table__, UnmatchedReport.__table__


def _with_reports(*conditions: sa.ColumnElement[bool], order_by: tuple = ()) -> sa.Select:
    """The attempts meeting `conditions`, with their reports, as ORM objects."""
    return sa.select(Attempt).where(*conditions).order_by(*order_by).options(selectinload(Attempt.reports))


_STUDENT = (_users.c.id, _users.c.email, _users.c.testpress_user_id)  # KnownStudent's columns


# What matching reads, built once and run with each batch's lists (`_lists`): building and
# compiling them anew cost the webhook more than running them. Students, exams and unmatched
# rows name the tables' columns, so that the ORM leaves their rows alone. (Not the unconfirmed
# attempts of `load`: there SQLite's planner must see how short the students' list is, see
# portal.core.bulk.)
_NAMED = sa.or_(among(Attempt.testpress_attempt_id, listed("testpress_ids")),
                among(Attempt.institute_attempt_id, listed("institute_ids")))
# Every source, named, so that SQLite searches the (source, attempt) index.
_EVERY_SOURCE = among(_unmatched.c.source, listed("sources", list(ReportSource)))
_REPORTS_UNMATCHED = (_EVERY_SOURCE, among(_unmatched.c.testpress_attempt_id, listed("testpress_ids")))
UNMATCHED_ROWS = sa.select(_unmatched.c.id, _unmatched.c.source, _unmatched.c.testpress_attempt_id).where(
    *_REPORTS_UNMATCHED)
# The attempts the reports name, each with its student's row (which spares the students' read
# when it is the reporting student) and whether any report of the batch has an unmatched row
# (the rows are read only then: most batches have none). A delivery Testpress retries is
# then decided on this one read. A single report's attempt (the webhook's) with its reports
# in the same statement: half the cost of a second one. A page's in two: joined, SQLite
# would send each attempt's columns again with each of its reports, a fifth slower at a
# thousand.
def _owned(named: sa.ColumnElement[bool], reports_unmatched: tuple) -> sa.Select:
    return (sa.select(Attempt, *_STUDENT, sa.exists().where(*reports_unmatched).label("any_unmatched"))
            .join(_users, _users.c.id == Attempt.student_id).where(named))


NAMED_ATTEMPTS = _owned(_NAMED, _REPORTS_UNMATCHED).options(selectinload(Attempt.reports))
# A single report's (the webhook's) compares its two ids as plain values, and the sources as
# a list written in the statement: no JSON to encode and for SQLite to take apart in
# json_each at each execution, and no temporary list per IN (about half the statement's time
# in SQLite). Run with `_one`'s parameters.
_TESTPRESS_ID = sa.bindparam("testpress_id", type_=Attempt.testpress_attempt_id.type)
NAMED_ATTEMPT = _owned(
    sa.or_(Attempt.testpress_attempt_id == _TESTPRESS_ID,
           Attempt.institute_attempt_id == sa.bindparam("institute_id", type_=Attempt.institute_attempt_id.type)),
    (_unmatched.c.source.in_([sa.literal(str(source)) for source in ReportSource]),
     _unmatched.c.testpress_attempt_id == _TESTPRESS_ID),
).options(joinedload(Attempt.reports))
_NAMED_STUDENTS = sa.or_(among(_users.c.testpress_user_id, listed("user_ids")), among(_users.c.email, listed("emails")))
NAMED_STUDENTS = sa.select(*_STUDENT).where(_NAMED_STUDENTS)
NAMED_EXAMS = sa.select(_exams.c.id, _exams.c.testpress_id).where(among(_exams.c.testpress_id, listed("exam_ids")))
# The students of the attempts a batch names, and those it names itself, in one round trip.
NAMED_STUDENT_IDS = sa.union(sa.select(Attempt.__table__.c.student_id).where(_NAMED),
                             sa.select(_users.c.id).where(_NAMED_STUDENTS))
LEARN_USER_IDS = _users.update().where(_users.c.id == sa.bindparam("user_id")).values(
    testpress_user_id=sa.bindparam("testpress_user_id"))
END_UNMATCHED = sa.delete(_unmatched).where(_EVERY_SOURCE, among(_unmatched.c.testpress_attempt_id, listed("ended")))
ADD_UNMATCHED = sa.insert(_unmatched)
UPDATE_UNMATCHED = _unmatched.update().where(_unmatched.c.id == sa.bindparam("row_id"))


def _lists(items: list[ReportedAttempt]) -> dict[str, list]:
    """The lists the statements above take for a batch: the reports' own ids (Testpress's
    attempt id, the portal's reference) and their students' (Testpress user id, email)."""
    emails = {item.email for item in items if item.email}
    return {
        "testpress_ids": list({item.testpress_attempt_id for item in items}),
        "institute_ids": list({item.institute_attempt_id for item in items if item.institute_attempt_id is not None}),
        "user_ids": list({item.testpress_user_id for item in items if item.testpress_user_id is not None}),
        "emails": list(emails | {email.lower() for email in emails}),
    }


def _one(item: ReportedAttempt) -> dict:
    """NAMED_ATTEMPT's parameters: the report's own ids (None names no attempt: `= NULL` is never true)."""
    return {"testpress_id": item.testpress_attempt_id, "institute_id": item.institute_attempt_id}


def recording_keys(items: list[ReportedAttempt]) -> set[Key]:
    """What recording `items` decides on, for its write transaction to hold: each report's
    Testpress attempt (so that two reports of one attempt take turns even while its student is
    unknown) and every portal student a report or an attempt it names belongs to. Read before
    the locks are taken, by the queries `AttemptMatcher.load` makes under them: should the
    answer change in between, the standings' hook finds an attempt of a student not held
    (KeysChanged), and the recording is done again under the whole lock."""
    keys: set[Key] = {("testpress attempt", item.testpress_attempt_id) for item in items}
    # A Testpress user id the portal may learn for a student (a unique column): two reports
    # teaching it to two students take turns, and the second finds it taken.
    keys |= {("testpress user", item.testpress_user_id) for item in items if item.testpress_user_id is not None}
    return keys | {("student", student_id) for student_id in db.session.scalars(NAMED_STUDENT_IDS, _lists(items))}


class AttemptMatcher:
    """Matches a batch of reports of one source to attempts, creating what is missing.

    Call `load` once with the batch, then `attempt_for` per report. New attempts are added
    to the session, or with `adds_new` off only listed in `new_attempts`, once each, for the
    caller to insert in bulk (portal.attempts.inserting); nothing is committed here.
    """

    def __init__(self, source: ReportSource, *, adds_new: bool = True):
        self.source = source
        self.adds_new = adds_new
        self.new_attempts: list[Attempt] = []
        self._by_institute_id: dict[int, Attempt] = {}
        self._by_testpress_id: dict[str, Attempt] = {}
        # Students and exams as tuples of the columns matching needs: the ORM's objects cost
        # more to build than the whole of matching, and a page can name a thousand students.
        self._users_by_testpress_id: dict[int, KnownStudent] = {}
        self._users_by_email: dict[str, KnownStudent] = {}
        self._exams_by_testpress_id: dict[int, KnownExam] = {}
        self._open_launches: dict[tuple[int, int], list[Attempt]] = {}
        self._claimed: dict[str, list[Attempt]] = {}  # Testpress id a return claimed -> unconfirmed attempts
        self._unmatched_row_ids: dict[str, int] = {}  # Testpress attempt id -> its UnmatchedReport's id
        self._unmatched_stored: set[str] = set()  # Testpress attempt ids with an UnmatchedReport, any source's
        self._unmatched: dict[str, dict] = {}  # Testpress attempt id -> what to store for it at save()
        self._learnt_user_ids: dict[int, int] = {}  # portal user id -> Testpress user id
        self.matched_testpress_ids: set[str] = set()

    def load(self, items: list[ReportedAttempt]) -> None:
        """Fetch everything the batch could match, in at most eight queries."""
        lists = _lists(items)
        if len(items) == 1:
            named = db.session.execute(NAMED_ATTEMPT, _one(items[0])).unique().all()
        else:
            named = db.session.execute(NAMED_ATTEMPTS, lists).unique().all()
        for attempt, *owner, _ in named:
            self._remember(attempt)
            if (student := KnownStudent._make(owner)).testpress_user_id is not None:
                # Testpress's user id is unique: the student a report naming it is from (_student).
                self._users_by_testpress_id[student.testpress_user_id] = student

        # Every report's student, known or not: a found attempt must be theirs. Read unless
        # every report's is the student of an attempt just read (a delivery Testpress retries).
        known = all(item.testpress_user_id in self._users_by_testpress_id for item in items)
        if not known and (lists["user_ids"] or lists["emails"]):
            for row in db.session.execute(NAMED_STUDENTS, lists):
                user = KnownStudent._make(row)
                self._users_by_email[user.email.lower()] = user
                if user.testpress_user_id is not None:
                    self._users_by_testpress_id[user.testpress_user_id] = user

        unresolved = [item for item in items if self._known_attempt(item)[0] is None]
        exam_ids = {item.testpress_exam_id for item in unresolved if item.testpress_exam_id is not None}
        if exam_ids:
            for row in db.session.execute(NAMED_EXAMS, {"exam_ids": list(exam_ids)}):
                exam = KnownExam._make(row)
                self._exams_by_testpress_id[exam.testpress_id] = exam

        student_ids = {user.id for user in self._users_by_email.values()}
        portal_exam_ids = {exam.id for exam in self._exams_by_testpress_id.values()}
        without_reference = [item for item in unresolved if item.institute_attempt_id is None]
        if student_ids and portal_exam_ids and without_reference:
            unconfirmed = sa.and_(Attempt.testpress_attempt_id.is_(None), among(Attempt.student_id, student_ids),
                                  among(Attempt.exam_id, portal_exam_ids))
            claimed = among(Attempt.claimed_testpress_attempt_id,
                            {item.testpress_attempt_id for item in without_reference})
            for attempt in db.session.scalars(_with_reports(unconfirmed, claimed, order_by=(Attempt.started_at,))):
                self._claimed.setdefault(attempt.claimed_testpress_attempt_id, []).append(attempt)
            open_ones = sa.and_(unconfirmed, Attempt.status.in_(UNFINISHED_STATUSES))
            for launch in db.session.scalars(_with_reports(open_ones, order_by=(Attempt.started_at,))):
                self._open_launches.setdefault((launch.student_id, launch.exam_id), []).append(launch)

        # Every report's, not only those that matched no attempt: one naming another student's
        # attempt is kept as unmatched too, and its row may exist already.
        unmatched = db.session.execute(UNMATCHED_ROWS, lists) if not named or named[0].any_unmatched else ()
        for row_id, source, testpress_attempt_id in unmatched:
            self._unmatched_stored.add(testpress_attempt_id)
            if source == self.source:
                self._unmatched_row_ids[testpress_attempt_id] = row_id

    def attempt_for(self, item: ReportedAttempt, now: datetime | None = None) -> Attempt | None:
        """The attempt `item` reports on (found, or new and added); None when it is unmatched."""
        now = now or utcnow()
        student = self._student(item)
        attempt, conflict = self._known_attempt(item)
        if conflict:
            return self._keep_unmatched(item, conflict, now)
        if attempt is not None and (student is None or attempt.student_id != student.id):
            return self._keep_unmatched(item, f"names portal attempt {attempt.id}, which is not this student's", now)
        if attempt is None:
            exam = self._exam(item)
            if student is None or exam is None:
                return self._keep_unmatched(item, self._unknown(item, student, exam), now)
            attempt = (self._claimed_by_return(student, exam, item) or self._open_launch(student, exam, item)
                       or self._new_attempt(student, exam, item))
        self.matched_testpress_ids.add(item.testpress_attempt_id)
        # So that a later report of the same attempt in this batch finds it.
        self._by_testpress_id.setdefault(item.testpress_attempt_id, attempt)
        return attempt

    def save(self) -> None:
        """Write what the batch taught us, in bulk: students' Testpress ids, the end of the
        unmatched rows of attempts now matched (staff need not see them any more), and the
        unmatched reports of this batch."""
        if self._learnt_user_ids:
            for user_id, testpress_id in sorted(self._learnt_user_ids.items()):
                require_key(("student", user_id))
                require_key(("testpress user", testpress_id))
            db.session.execute(LEARN_USER_IDS, [{"user_id": user_id, "testpress_user_id": testpress_id}
                                                for user_id, testpress_id in self._learnt_user_ids.items()])
        # Only those load found: most matched reports never had one (a statement saved per delivery).
        if ended := self.matched_testpress_ids & self._unmatched_stored:
            db.session.execute(END_UNMATCHED, {"ended": list(ended)})
        self._save_unmatched()

    def _save_unmatched(self) -> None:
        # Core statements, not ORM objects: a sync page can hold a hundred unmatched reports.
        new, seen_again = [], []
        for testpress_attempt_id, values in self._unmatched.items():
            row_id = self._unmatched_row_ids.get(testpress_attempt_id)
            if row_id is None:
                new.append({"source": self.source, "testpress_attempt_id": testpress_attempt_id, **values})
            else:
                seen_again.append({"row_id": row_id, **values})
        if new:
            db.session.execute(ADD_UNMATCHED, new)
        if seen_again:
            db.session.execute(UPDATE_UNMATCHED, seen_again)

    def _remember(self, attempt: Attempt) -> None:
        if attempt.institute_attempt_id is not None:
            self._by_institute_id[attempt.institute_attempt_id] = attempt
        if attempt.testpress_attempt_id is not None:
            self._by_testpress_id[attempt.testpress_attempt_id] = attempt

    def _known_attempt(self, item: ReportedAttempt) -> tuple[Attempt | None, str | None]:
        """The attempt the report's own ids name, and why it cannot be applied, if it cannot."""
        by_institute = self._by_institute_id.get(item.institute_attempt_id)
        by_testpress = self._by_testpress_id.get(item.testpress_attempt_id)
        if by_institute is None or by_institute is by_testpress:
            return by_testpress, None
        if by_institute.testpress_attempt_id is None:
            if by_testpress is None:
                return by_institute, None
            return None, (f"Testpress attempt {item.testpress_attempt_id} is recorded on portal attempt "
                          f"{by_testpress.id}, but this report names launch {by_institute.id}")
        # A launch tied to another Testpress attempt by Testpress itself is not this one.
        return by_testpress, None

    def _student(self, item: ReportedAttempt) -> KnownStudent | None:
        # Testpress's user id outlives an email change, so it is asked first.
        student = self._users_by_testpress_id.get(item.testpress_user_id)
        if student is None and item.email:
            student = self._users_by_email.get(item.email.lower())
            if (
                student is not None
                and student.testpress_user_id is None
                and student.id not in self._learnt_user_ids
                and item.testpress_user_id is not None
                and item.testpress_user_id not in self._users_by_testpress_id
            ):
                self._learnt_user_ids[student.id] = item.testpress_user_id
                self._users_by_testpress_id[item.testpress_user_id] = student
        return student

    def _exam(self, item: ReportedAttempt) -> KnownExam | None:
        return self._exams_by_testpress_id.get(item.testpress_exam_id)

    def _claimed_by_return(self, student: KnownStudent, exam: KnownExam, item: ReportedAttempt) -> Attempt | None:
        """The student's attempt at this exam whose browser return named this Testpress attempt.

        Only for a report without an institute_attempt_id; the claim cannot reach another
        student's report, since the attempt must be this student's and exam's.
        """
        if item.institute_attempt_id is not None:
            return None
        for attempt in reversed(self._claimed.get(item.testpress_attempt_id, [])):
            if (attempt.student_id, attempt.exam_id) == (student.id, exam.id) and attempt.testpress_attempt_id is None:
                return attempt
        return None

    def _open_launch(self, student: KnownStudent, exam: KnownExam, item: ReportedAttempt) -> Attempt | None:
        """The student's latest launch of this exam still waiting for its Testpress attempt
        (running or paused: see UNFINISHED_STATUSES).

        Only for a report without an institute_attempt_id (Testpress's own API may not
        carry it): one that carries an id the portal does not know was launched elsewhere.
        """
        if item.institute_attempt_id is not None:
            return None
        launches = self._open_launches.get((student.id, exam.id), [])
        started = item.report.started_at
        for launch in reversed(launches):
            if started is None or launch.started_at <= started + CLOCK_SLACK:
                launches.remove(launch)
                return launch
        return None

    def _new_attempt(self, student: KnownStudent, exam: KnownExam, item: ReportedAttempt) -> Attempt:
        """An attempt taken on Testpress without a launch from the portal."""
        attempt = new_object(Attempt, student_id=student.id, exam_id=exam.id, status=AttemptStatus.LAUNCHED,
                             started_at=item.report.started_at or utcnow())
        if self.adds_new:
            db.session.add(attempt)
        self.new_attempts.append(attempt)
        return attempt

    @staticmethod
    def _unknown(item: ReportedAttempt, student: KnownStudent | None, exam: KnownExam | None) -> str:
        reasons = []
        if student is None:
            reasons.append(f"no portal student {item.email or f'Testpress user {item.testpress_user_id}'}")
        if exam is None:
            reasons.append(f"no portal exam with Testpress id {item.testpress_exam_id}")
        return "; ".join(reasons)

    def _keep_unmatched(self, item: ReportedAttempt, reason: str, now: datetime) -> None:
        self._unmatched[item.testpress_attempt_id] = {  # a later report of the attempt wins
            "email": item.email,
            "testpress_user_id": item.testpress_user_id,
            "testpress_exam_id": item.testpress_exam_id,
            "reason": reason[:300],
            "payload": json.dumps(item.payload, sort_keys=True, default=str),
            "received_at": now,
        }
        return None
