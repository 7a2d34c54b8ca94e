"""Pulling attempts from the Admin API into the portal: `flask --app portal testpress sync`.

The sync streams the API page by page (oldest start first), and each page is one
transaction: its attempts are matched with a few IN queries, folded in memory with
`record_report` (the same function the webhook and the return use), and committed together
with the run's counts and high-water mark. Memory therefore stays flat however many
attempts there are, a crash loses at most the page in flight, and a rerun finds every
attempt already there by its Testpress id, so there is always one row per attempt.

The next run starts from the last run's high-water mark less an overlap, because Testpress
filters on an attempt's *start* and the clocks of the two sides need not agree.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.attempts.inserting import insert_attempts
from portal.attempts.reconciliation import flag_no_record, record_report
from portal.core import audit, metrics
from portal.core.bulk import among
from portal.core.clock import utcnow
from portal.core.database import keyed_write, write_transaction
from portal.core.extensions import db
from portal.models import UNLEASED_RUN_LIMIT, Attempt, Exam, SyncRun, User
from portal.results import RESULT_FIELDS
from portal.testpress.client import Page, TestpressClient
from portal.testpress.matching import AttemptMatcher, recording_keys
from portal.testpress.reports import BadReport, ReportedAttempt, from_api
from portal.vocabulary import AttemptStatus, ReportSource

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
SAFETY_OVERLAP = timedelta(hours=1)
# An attempt still running holds the high-water mark back, so that its completion is
# fetched next time; one running for longer than this is taken to be abandoned.
RUNNING_HOLD_BACK = timedelta(days=1)
# A running sync renews its lease with every page; one that has not for this long is taken
# to be dead (its worker restarted, its server stopped), and the next run takes over.
LEASE = timedelta(minutes=5)


@dataclass
class SyncSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    flagged: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged + self.unmatched

    def line(self) -> str:
        return (
            f"Synced {self.total} attempt{'' if self.total == 1 else 's'}: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.unmatched} unmatched, {self.flagged} flagged."
        )

    @classmethod
    def of(cls, run: SyncRun) -> SyncSummary:
        return cls(run.new, run.updated, run.unchanged, run.unmatched, run.flagged)


class SyncAlreadyRunning(Exception):
    """Another sync holds the one running slot; `run` is it (for a link to its page)."""

    def __init__(self, run: SyncRun | None):
        super().__init__(f"sync run {run.id} is already running, since {run.started_at:%Y-%m-%d %H:%M} UTC"
                         if run is not None else "another sync is already running")
        self.run = run


class SyncTakenOver(Exception):
    """This run's lease ran out and another run took the slot: this one stops at once."""


def sync_attempts(
    client: TestpressClient,
    *,
    since: datetime | None = None,
    exam_id: int | None = None,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[Page], None] | None = None,
) -> SyncSummary:
    """Pull attempts started since `since` (default: where the last run got to, less an
    overlap), optionally of one Testpress exam, and record them; then ask for the attempts
    awaiting the Admin API's confirmation. `on_page` is called after each page is committed.
    Raises SyncAlreadyRunning when another sync runs, anywhere; TestpressError (after
    marking the run failed)."""
    return run_sync(client, begin_sync(since=since, exam_id=exam_id), page_size=page_size, on_page=on_page)


def begin_sync(*, since: datetime | None = None, exam_id: int | None = None, started_by: User | None = None) -> SyncRun:
    """Take the one running slot for a new run and commit it; raises SyncAlreadyRunning.

    One at a time across every worker and server, by the database itself: the run is
    inserted holding `running_slot` = 1, which is unique, so of two inserts at the same
    moment one commits and the other is refused (on SQLite and PostgreSQL alike). A run
    whose lease ran out (its process died mid-run) gives the slot up first. A run a staff
    member starts is in the audit log, in the same commit.
    """
    for _ in range(3):  # the running run may finish between our refusal and our look at it
        now = utcnow()
        _expire_stale_runs(now)
        previous = _previous_high_water(exam_id)
        run = SyncRun(since=since or (previous - SAFETY_OVERLAP if previous else None), exam_filter=exam_id,
                      high_water=previous, running_slot=1, lease_until=now + LEASE,
                      started_by_id=started_by.id if started_by is not None else None)
        db.session.add(run)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            if (running := running_sync()) is not None:
                raise SyncAlreadyRunning(running) from None
            continue
        if started_by is not None:
            audit.record(started_by, "sync.start", "sync_run", run.id, f"Started Testpress sync run {run.id}",
                         after={"since": run.since, "exam_filter": exam_id})
        db.session.commit()
        return run
    raise SyncAlreadyRunning(running_sync())


def running_sync() -> SyncRun | None:
    """The run holding the slot, if any (its lease may have run out: see SyncRun.stalled)."""
    return db.session.scalar(sa.select(SyncRun).where(SyncRun.running_slot == 1))


def _expire_stale_runs(now: datetime) -> None:
    """Give up the slot of a run that has renewed no lease for LEASE: its process is gone.
    Likewise close a run without a lease (one attempt asked for) older than UNLEASED_RUN_LIMIT."""
    expired = db.session.execute(
        sa.update(SyncRun).where(SyncRun.running_slot == 1, SyncRun.lease_until < now)
        .values(running_slot=None, status="failed", finished_at=now,
                error="stopped without finishing (its process ended or stopped answering); "
                      "the next run resumes from its last page")
        .execution_options(synchronize_session=False))
    abandoned = db.session.execute(
        sa.update(SyncRun).where(SyncRun.status == "running", SyncRun.lease_until.is_(None),
                                 SyncRun.started_at < now - UNLEASED_RUN_LIMIT)
        .values(running_slot=None, status="failed", finished_at=now,
                error="stopped without finishing (its process ended or stopped answering)")
        .execution_options(synchronize_session=False))
    db.session.commit()
    if expired.rowcount:
        log.warning("Testpress sync: took over from a run whose lease had run out")
    if abandoned.rowcount:
        log.warning("Testpress sync: closed %d run(s) that never finished", abandoned.rowcount)


def run_sync(
    client: TestpressClient,
    run: SyncRun,
    *,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[Page], None] | None = None,
) -> SyncSummary:
    """Carry out `run` (from begin_sync): the command's, cron's and Sync now's one body.
    Raises TestpressError (after marking the run failed)."""
    with _run(run) as run, _gc_frozen():
        map_testpress_exam_ids(client)
        pages = client.iter_attempts(
            page_size=page_size,
            ordering="date",
            exams=run.exam_filter,
            # A bare date, as the API documents it: a little more overlap, never a gap.
            date_0=run.since.date().isoformat() if run.since else None,
        )
        pager = PageRecorder(client, run)
        for page in fetched_ahead(pages):
            record_page(pager, page.results, page=page)
            if on_page is not None:
                on_page(page)
        confirm_attempts(client, run, _awaiting_confirmation(run.exam_filter))
        flag_unknown_to_testpress(run)
    summary = SyncSummary.of(run)
    log.info("Testpress sync %s: %s", run.id, summary.line())
    return summary


@contextmanager
def _gc_frozen() -> Iterator[None]:
    """Leave the objects already there (the app, its modules and models) out of the cyclic
    garbage collector's passes while the run lasts: a page's thousands of ORM objects set
    off its oldest generation every page or two, and each such pass walked them all, a
    tenth of a first sync's time."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def start_in_background(app, client: TestpressClient, run: SyncRun) -> threading.Thread:
    """Carry out `run` in a thread of this worker, with its own app context and session
    (Sync now: the press answers at once, and the run's page shows its progress).

    Should the worker stop mid-run (a restart, a deploy), the run's lease runs out and the
    next press takes over, resuming from the last page committed.
    """
    run_id = run.id

    def work() -> None:
        with app.app_context():
            try:
                run_sync(client, db.session.get(SyncRun, run_id))
            except Exception as error:  # already kept on the run as failed; the thread has no caller
                log.warning("Testpress sync %s failed: %s", run_id, failure_line(error))

    thread = threading.Thread(target=work, name=f"testpress-sync-{run_id}", daemon=True)
    thread.start()
    return thread


def confirm_attempt(client: TestpressClient, attempt_id: int, *, started_by: User | None = None) -> bool:
    """A staff member's request to ask the Admin API for one attempt now, kept as a run of its
    own (outside any window, so the next sync's start is unchanged, and holding no slot, so a
    sync running meanwhile does not stop it). A result it changes is in the audit log, as
    `started_by`'s action. Answers whether Testpress knew the attempt; raises TestpressError
    (after marking the run failed).

    Meant for a client that gives up quickly (TestpressClient.interactive): the run holds no
    lease, so should its process die mid-call, only its age tells (UNLEASED_RUN_LIMIT)."""
    run = SyncRun(started_by_id=started_by.id if started_by is not None else None)
    db.session.add(run)
    db.session.commit()
    with _run(run) as run:
        found = confirm_attempts(client, run, [attempt_id], actor=started_by)
    return bool(found)


@contextmanager
def _run(run: SyncRun) -> Iterator[SyncRun]:
    """Keep `run` (committed) as a record of what happened: ok, or failed with its error;
    either way it gives up the running slot."""
    run_id = run.id
    try:
        yield run
    except BaseException as error:  # a Ctrl-C mid-sync is recorded as a failed run too
        db.session.rollback()
        failed = db.session.get(SyncRun, run_id)
        if not isinstance(error, SyncTakenOver):  # else the run that took over said why
            failed.status, failed.finished_at = "failed", utcnow()
            failed.error = failure_line(error)[:500]
        failed.running_slot = failed.lease_until = None
        db.session.commit()
        raise
    run.status, run.finished_at = "ok", utcnow()
    run.running_slot = run.lease_until = None
    db.session.commit()
    metrics.SYNC_LAST_SUCCESS.set_to_current_time()


def record_page(pager: PageRecorder, results: list[dict], *, page: Page | None = None) -> None:
    """Record one page in one write transaction, which owns the attempts it decides on: a
    webhook for one of them waits for the page's commit, then finds what the page wrote.

    Should the database still refuse the page (a row no rule of matching foresaw), each
    attempt is recorded alone and the one refused is logged and skipped: one bad attempt
    never holds back everyone else's results, on this run or the next.
    """
    items = pager.prepare(results)  # read, and any email asked of Testpress, before the locks

    def record() -> None:
        pager.record(items)
        pager.page_done(page)

    try:
        keyed_write(record, keys=lambda: recording_keys(items))
        metrics.SYNC_PAGES.inc()
        return
    except IntegrityError:
        log.warning("Testpress sync: the database refused a page; recording its attempts one by one")
    with write_transaction():
        pager.page_done(page)
        for item in items:
            try:
                with db.session.begin_nested():
                    pager.record([item])
            except IntegrityError as error:
                log.warning("Testpress sync: skipped Testpress attempt %s, which conflicts with a stored row (%s)",
                            item.testpress_attempt_id[:32], type(error.orig).__name__)
    metrics.SYNC_PAGES.inc()


def confirm_attempts(client: TestpressClient, run: SyncRun, attempt_ids: Iterable[int], *,
                     actor: User | None = None) -> int:
    """Ask the Admin API, the most trusted source, for each of these attempts and record its
    answer into `run`; answer how many Testpress knew. Each is fetched by its student and
    exam (an attempt older than the sync's window, a re-evaluation of last term's exam, is
    found so too). One Testpress has not reported yet (only the browser has: its Testpress
    id is a claim, not a key) is looked for among every attempt of its student at its exam,
    all of them recorded, so that matching finds it by the portal's own reference. With an
    `actor` (a staff member asked), each result changed is audited as theirs."""
    pager = PageRecorder(client, run, moves_high_water=False, actor=actor)
    found = 0
    for attempt_id in attempt_ids:
        if run.lease_until is not None:
            _renew_lease(run)  # each confirmation may ask Testpress for a few pages
        attempt = db.session.get(Attempt, attempt_id)
        if attempt is None:
            continue
        exam_id, wanted = attempt.exam.testpress_id, attempt.testpress_attempt_id
        if exam_id is None:
            log.warning("Testpress sync: cannot confirm attempt %s: its exam has no Testpress id", attempt_id)
            continue
        if (user_id := _testpress_user_id(client, attempt.student)) is None:
            continue  # Testpress has no such user, so no attempt of theirs
        reference = str(attempt.institute_attempt_id)
        for page in client.iter_attempts(users=user_id, exams=exam_id):
            results = [result for result in page.results
                       if isinstance(result, dict) and (wanted is None or str(result.get("id")) == wanted)]
            if results:
                record_page(pager, results, page=None)
            if any(str(result.get("id")) == wanted or str(result.get("institute_attempt_id")) == reference
                   for result in results):
                found += 1
                if wanted is not None:
                    break
    db.session.commit()  # the run's counts, when nothing was found to record
    return found


def _testpress_user_id(client: TestpressClient, student: User) -> int | None:
    """The student's Testpress user id: as a signed report gave it, else by their email."""
    if student.testpress_user_id is not None:
        return student.testpress_user_id
    user = client.find_user(student.email)
    return user.get("id") if isinstance(user, dict) and isinstance(user.get("id"), int) else None


# A run flags at most this many attempts Testpress does not know; the rest wait for the next.
NO_RECORD_FLAGS_PER_RUN = 500


def flag_unknown_to_testpress(run: SyncRun) -> int:
    """After a run has read every attempt Testpress lists from its window: flag each score
    only the browser reported, started in that window longer ago than the grace period, of
    which Testpress sent no word at all (reconciliation.flag_no_record); answer how many.

    Only at exams the portal knows by their Testpress id: another exam's attempts cannot have
    been matched, so the run's silence says nothing of them. Under the recording lock, each
    attempt read again: a webhook for it at the same moment is weighed before or after."""
    grace = timedelta(seconds=current_app.config["TESTPRESS_CONFIRMATION_GRACE"])
    window = [Attempt.score_source == ReportSource.RETURN, Attempt.flagged.is_(False),
              Attempt.webhook_seen_at.is_(None), Attempt.api_seen_at.is_(None),
              Attempt.started_at < min(run.started_at, utcnow()) - grace, Exam.testpress_id.is_not(None)]
    if run.since is not None:  # the run asked from the date of `since`
        window.append(Attempt.started_at >= datetime.combine(run.since.date(), datetime.min.time()))
    if run.exam_filter is not None:
        window.append(Exam.testpress_id == run.exam_filter)
    flagged = 0
    with write_transaction():
        for attempt in db.session.scalars(sa.select(Attempt).join(Attempt.exam).where(*window)
                                          .order_by(Attempt.id).limit(NO_RECORD_FLAGS_PER_RUN)):
            flagged += flag_no_record(attempt)
        run.flagged += flagged
    if flagged:
        log.info("Testpress sync %s: flagged %d attempt(s) Testpress has no record of", run.id, flagged)
    return flagged


def _renew_lease(run: SyncRun) -> None:
    """Renew the lease of `run`, which holds the slot, and commit; SyncTakenOver if it lost it."""
    renewed = db.session.execute(
        sa.update(SyncRun).where(SyncRun.id == run.id, SyncRun.running_slot == 1)
        .values(lease_until=utcnow() + LEASE).execution_options(synchronize_session=False))
    db.session.commit()
    if not renewed.rowcount:
        raise SyncTakenOver(f"sync run {run.id} was taken over after its lease ran out")


# A run confirms at most this many attempts; the rest wait for the next run.
CONFIRMATIONS_PER_RUN = 200


def _awaiting_confirmation(exam_id: int | None) -> list[int]:
    """Attempts whose signed reports disagree with nothing to order them (see record_report)."""
    query = sa.select(Attempt.id).where(Attempt.needs_confirmation)
    if exam_id is not None:
        query = query.join(Attempt.exam).where(Exam.testpress_id == exam_id)
    return list(db.session.scalars(query.order_by(Attempt.id).limit(CONFIRMATIONS_PER_RUN)))


def failure_line(error: BaseException) -> str:
    """What a failed run stores and the CLI prints: one line, with nothing of the data.

    The text of a DBAPIError holds the SQL and its parameters (students' emails, scores), so a
    database error is told by its classes alone.
    """
    if isinstance(error, sa.exc.SQLAlchemyError):
        cause = getattr(error, "orig", None)
        kind = f" ({type(cause).__name__})" if cause is not None else ""
        what = "a constraint" if isinstance(error, IntegrityError) else "an error"
        return f"{type(error).__name__}{kind}: the database refused the sync's writes with {what}"
    return str(error) or type(error).__name__


def fetched_ahead(pages: Iterator[Page]) -> Iterator[Page]:
    """`pages`, with the next one fetched in a thread while the caller records this one.

    Testpress's time to answer a page and ours to record it then overlap instead of adding
    up. At most one page waits, so memory stays flat; an error in the fetch is raised here.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not hand_over(page):
                    return
            hand_over(_NO_MORE_PAGES)
        except BaseException as error:  # handed to the caller's thread, which raises it
            hand_over(error)

    worker = threading.Thread(target=fetch, name="testpress-sync-fetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _NO_MORE_PAGES:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


_NO_MORE_PAGES = object()


def _previous_high_water(exam_id: int | None) -> datetime | None:
    """How far the latest comparable run got: one of every exam, or of this exam."""
    runs = sa.select(SyncRun.high_water).where(SyncRun.high_water.is_not(None))
    if exam_id is None:
        runs = runs.where(SyncRun.exam_filter.is_(None))
    else:
        runs = runs.where(sa.or_(SyncRun.exam_filter.is_(None), SyncRun.exam_filter == exam_id))
    return db.session.scalar(runs.order_by(SyncRun.id.desc()).limit(1))


def map_testpress_exam_ids(client: TestpressClient) -> int:
    """Learn the Testpress id of each portal exam that has none, by its exam URL's path.

    Asks Testpress only when some exam needs it. Answers how many exams were mapped.
    """
    unmapped = db.session.scalars(sa.select(Exam).where(Exam.testpress_id.is_(None))).all()
    if not unmapped:
        return 0
    taken = set(db.session.scalars(sa.select(Exam.testpress_id).where(Exam.testpress_id.is_not(None))))
    by_path = {}
    for remote in client.list_exams():
        if remote.get("url") and isinstance(remote.get("id"), int):
            by_path.setdefault(_url_path(remote["url"]), remote["id"])
    mapped = 0
    for exam in unmapped:
        testpress_id = by_path.get(_url_path(exam.exam_url))
        if testpress_id is not None and testpress_id not in taken:
            exam.testpress_id = testpress_id
            taken.add(testpress_id)
            mapped += 1
    db.session.commit()
    if mapped:
        log.info("Testpress sync: learnt the Testpress id of %d exam(s) from their URLs", mapped)
    return mapped


def _url_path(url: str) -> str:
    return urlsplit(url.strip()).path.rstrip("/")


# What a staff member's "ask the Admin API" may change of an attempt, as its audit entry shows it.
AUDITED_FIELDS = ("status", "score_source", *RESULT_FIELDS, "flagged", "needs_confirmation")


def _audited(attempt: Attempt) -> dict:
    return {name: getattr(attempt, name) for name in AUDITED_FIELDS}


def _audit_result_change(actor: User, attempt: Attempt, before: dict) -> None:
    before, after = audit.changes(before, _audited(attempt))
    if after:
        audit.record(actor, "attempt.confirm", "attempt", attempt.id,
                     f"Recorded the Admin API's result for attempt {attempt.id}", before=before, after=after)


class PageRecorder:
    """Records pages of Admin API attempts into one sync run.

    With `moves_high_water` off, the pages are not part of the run's window (attempts
    fetched one by one to be confirmed), so they leave its high-water mark alone.
    """

    def __init__(self, client: TestpressClient, run: SyncRun, *, moves_high_water: bool = True,
                 actor: User | None = None):
        self.client = client
        self.run = run
        self.moves_high_water = moves_high_water
        self.actor = actor  # a staff member who asked: each result changed is audited as theirs
        self._emails_by_user_id: dict[int, str] | None = None  # fetched once, only if needed
        self._earliest_running: datetime | None = None

    def page_done(self, page: Page | None) -> None:
        """Count a page of the window into the run and renew its lease, in the page's own
        transaction; raises SyncTakenOver if the run lost its slot meanwhile."""
        run = self.run
        if run.lease_until is not None:  # a run that holds a slot (not a one-attempt confirmation)
            if run.running_slot is None:
                raise SyncTakenOver(f"sync run {run.id} was taken over after its lease ran out")
            run.lease_until = utcnow() + LEASE
        if page is not None:
            run.pages_done += 1
            if run.expected is None:
                run.expected = page.count

    def prepare(self, results: Iterable[dict]) -> list[ReportedAttempt]:
        """A page's attempts as reports, each with its student's email where the API left it
        out (which may ask Testpress): done before the page's write transaction."""
        items = self._parse(results)
        return self._with_emails(items) if items else items

    def record(self, items: list[ReportedAttempt]) -> None:
        """Fold a page's reports into the session (the caller commits) and update the run's counts."""
        if not items:
            return
        now = utcnow()
        # New attempts are inserted in bulk once the page is recorded, not by the flush.
        matcher = AttemptMatcher(ReportSource.API, adds_new=False)
        tally = SyncSummary()
        counted_new: set[int] = set()  # a new attempt listed twice on the page is new once
        with db.session.no_autoflush:
            matcher.load(items)
            for item in items:
                attempt = matcher.attempt_for(item, now)
                if attempt is None:
                    tally.unmatched += 1
                    continue
                is_new = attempt.id is None and id(attempt) not in counted_new
                was_flagged = attempt.flagged
                before = _audited(attempt) if self.actor is not None else None
                changed = record_report(attempt, item.report, now)
                if before is not None and changed:
                    _audit_result_change(self.actor, attempt, before)
                if is_new:
                    tally.new += 1
                    counted_new.add(id(attempt))
                elif changed:
                    tally.updated += 1
                else:
                    tally.unchanged += 1
                tally.flagged += int(bool(attempt.flagged) and not was_flagged)
            insert_attempts(db.session, matcher.new_attempts)
            matcher.save()
            self._count(tally, items, now)

    def _parse(self, results: Iterable[dict]) -> list[ReportedAttempt]:
        items = []
        for result in results:
            try:
                item = from_api(result)
            except BadReport as error:
                log.warning("Testpress sync: skipped an attempt the API sent: %s", error.reason)
                continue
            if item is not None:
                items.append(item)
        return items

    def _with_emails(self, items: list[ReportedAttempt]) -> list[ReportedAttempt]:
        """Fill in the emails the API left out, for students the portal knows by email only."""
        missing = {item.testpress_user_id for item in items if not item.email}
        if not missing:
            return items
        known = set(db.session.scalars(sa.select(User.testpress_user_id).where(among(User.testpress_user_id, missing))))
        if not missing - known:
            return items
        if self._emails_by_user_id is None:
            self._emails_by_user_id = {
                user["id"]: user["email"] for user in self.client.iter_users() if user.get("id") and user.get("email")
            }
        return [
            replace(item, email=self._emails_by_user_id.get(item.testpress_user_id)) if not item.email else item
            for item in items
        ]

    def _count(self, tally: SyncSummary, items: list[ReportedAttempt], now: datetime) -> None:
        run = self.run
        run.new += tally.new
        run.updated += tally.updated
        run.unchanged += tally.unchanged
        run.unmatched += tally.unmatched
        run.flagged += tally.flagged
        if not self.moves_high_water:
            return
        latest = max((item.report.started_at for item in items if item.report.started_at), default=None)
        for item in items:
            started = item.report.started_at
            if item.report.status == AttemptStatus.STARTED and started and now - started < RUNNING_HOLD_BACK:
                self._earliest_running = min(filter(None, (self._earliest_running, started)))
        candidates = [moment for moment in (run.high_water, latest) if moment is not None]
        if candidates:
            high_water = max(candidates)
            if self._earliest_running is not None:
                high_water = min(high_water, self._earliest_running)
            run.high_water = high_water
