"""The worker: `flask --app portal worker --once` runs what is due and exits; two workers at
once run each job once; a job whose worker died is taken over once its lease runs out."""

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.jobs.schedule import Job
from portal.jobs.worker import run_due
from portal.mail import outbox
from portal.mail.messages import letter
from portal.models import JobRun, OutboxMessage, PeopleImport, SyncRun
from portal.vocabulary import JobName, MailKind
from testpress_sandbox.config import DEFAULTS


@pytest.fixture
def worker_app(make_app, live_sandbox, mail_catcher):
    """The portal, syncing with the live sandbox and sending to the mail catcher."""
    app = make_app(TESTPRESS_BASE_URL=live_sandbox.url, TESTPRESS_API_USERNAME=DEFAULTS["API_USERNAME"],
                   TESTPRESS_API_PASSWORD=DEFAULTS["API_PASSWORD"], **mail_catcher.settings)
    with app.app_context():
        yield app
        db.session.remove()


def test_worker_once_runs_every_due_job_and_exits(worker_app, mail_catcher):
    outbox.queue(MailKind.TEST, letter("test", "Test message"), to="asha@example.com", key="test:1")
    db.session.add(PeopleImport(filename="old.csv", csv_text="email,name\n", created_at=utcnow() - timedelta(days=2)))
    db.session.commit()

    result = worker_app.test_cli_runner().invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "sync: Synced" in result.output
    assert "outbox: Email: 1 sent" in result.output
    assert "expire_imports: Deleted 1 unconfirmed import older than a day." in result.output
    assert [message["To"] for message in mail_catcher.received] == ["asha@example.com"]
    assert db.session.scalar(sa.select(sa.func.count(PeopleImport.id))) == 0
    assert db.session.scalar(sa.select(SyncRun.status)) == "ok"
    rows = db.session.scalars(sa.select(JobRun).order_by(JobRun.name)).all()
    assert [(row.name, row.outcome, row.lease_until) for row in rows] == [
        ("digest", "ok", None), ("expire_imports", "ok", None), ("outbox", "ok", None), ("sync", "ok", None)]

    again = worker_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert again.exit_code == 0 and again.output == "Nothing was due.\n"
    assert db.session.scalar(sa.select(sa.func.count(SyncRun.id))) == 1


def test_worker_once_without_mail_or_testpress_settings_fails_nothing(make_app):
    app = make_app(TESTPRESS_BASE_URL="")
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sync: Testpress's Admin API is not set up" in result.output
    assert "outbox: Email is off (no MAIL_SERVER): nothing to send." in result.output


def test_a_failing_job_is_kept_as_failed_and_the_others_still_run(app):
    def broken():
        raise RuntimeError("the Testpress sandbox is on fire")

    jobs = [Job(JobName.SYNC, lambda: timedelta(minutes=5), timedelta(minutes=5), broken),
            Job(JobName.OUTBOX, lambda: timedelta(seconds=10), timedelta(minutes=5), lambda: "sent nothing")]
    ran = run_due(jobs)
    assert [(job.name, job.failed) for job in ran] == [("sync", True), ("outbox", False)]
    sync = db.session.get(JobRun, "sync")
    assert (sync.outcome, sync.error) == ("failed", "RuntimeError: the Testpress sandbox is on fire")


def counting_jobs(counts: dict, pause: float = 0.2) -> list[Job]:
    def run(name):
        def work():
            counts[name] += 1
            time.sleep(pause)  # long enough for the other worker to look meanwhile
            return "done"
        return work

    return [Job(name, lambda: timedelta(hours=1), timedelta(minutes=5), run(name)) for name in counts]


def test_two_workers_at_once_run_each_job_once(make_app):
    apps = [make_app(), make_app()]
    counts = {JobName.SYNC: 0, JobName.OUTBOX: 0, JobName.EXPIRE_IMPORTS: 0}
    jobs = counting_jobs(counts)
    start = threading.Barrier(2)
    errors = []

    def worker(app, number):
        with app.app_context():
            try:
                start.wait()
                run_due(jobs, holder=f"worker-{number}")
            except Exception as error:  # reported below: a thread's exception would vanish
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(app, number)) for number, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert counts == {JobName.SYNC: 1, JobName.OUTBOX: 1, JobName.EXPIRE_IMPORTS: 1}


def test_a_job_whose_lease_ran_out_is_taken_over_and_a_live_one_is_left(app, caplog):
    now = utcnow()
    db.session.add_all([
        JobRun(name=JobName.SYNC, holder="dead-server:4242", started_at=now - timedelta(hours=2),
               lease_until=now - timedelta(minutes=1)),
        JobRun(name=JobName.OUTBOX, holder="busy-server:77", started_at=now - timedelta(hours=2),
               lease_until=now + timedelta(minutes=10)),
    ])
    db.session.commit()
    counts = {JobName.SYNC: 0, JobName.OUTBOX: 0}

    run_due(counting_jobs(counts, pause=0), holder="me")

    assert counts == {JobName.SYNC: 1, JobName.OUTBOX: 0}
    db.session.expire_all()
    sync, busy = db.session.get(JobRun, "sync"), db.session.get(JobRun, "outbox")
    assert (sync.holder, sync.outcome, sync.lease_until) == ("me", "ok", None)
    assert busy.holder == "busy-server:77" and busy.outcome is None
    assert "took over from dead-server:4242" in caplog.text


def test_the_outbox_sends_each_message_once_from_two_workers(make_app, mail_catcher):
    apps = [make_app(**mail_catcher.settings), make_app(**mail_catcher.settings)]
    with apps[0].app_context():
        for number in range(30):
            outbox.queue(MailKind.TEST, letter("test", "Test message"), to=f"s{number}@example.com", key=f"t:{number}")
        db.session.commit()
    start = threading.Barrier(2)

    def sender(app):
        with app.app_context():
            start.wait()
            outbox.send_due()
            db.session.remove()

    threads = [threading.Thread(target=sender, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(message["To"] for message in mail_catcher.received) == sorted(
        f"s{number}@example.com" for number in range(30))
    with apps[0].app_context():
        assert set(db.session.scalars(sa.select(OutboxMessage.status))) == {"sent"}


def test_of_two_workers_that_both_found_a_job_due_only_the_first_takes_its_lease(app):
    """What decides between two workers is the lease's conditional UPDATE, not their looks
    before it: both may have found the job due."""
    from portal.jobs import leases

    now = utcnow()
    hour, lease = timedelta(hours=1), timedelta(minutes=5)
    assert leases.take(JobName.SYNC, interval=hour, lease=lease, holder="a", now=now)
    assert not leases.take(JobName.SYNC, interval=hour, lease=lease, holder="b", now=now)
    leases.finish(JobName.SYNC, holder="a")
    assert not leases.take(JobName.SYNC, interval=hour, lease=lease, holder="b", now=now + timedelta(minutes=1))
    assert leases.take(JobName.SYNC, interval=hour, lease=lease, holder="b", now=now + hour)
