"""The dashboard's scheduled jobs: when each last ran and how it ended, and a warning when no
worker has run a job for twice its interval."""

from datetime import timedelta

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.jobs.worker import run_due
from portal.models import JobRun
from portal.vocabulary import JobName
from tests.factories import make_staff


def dashboard(app):
    make_staff("boss@example.com", name="Boss")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    return client.get("/admin/").get_data(as_text=True)


def test_before_any_worker_the_dashboard_says_none_has_run(app):
    page = dashboard(app)
    assert "No worker has run yet: start <code>flask --app portal worker</code>" in page
    assert "Testpress sync" in page and "never" in page


def test_after_a_worker_ran_each_job_shows_its_times_and_outcome_without_a_warning(make_app):
    app = make_app(TESTPRESS_BASE_URL="")
    with app.app_context():
        run_due()
        page = dashboard(app)
    assert "No worker has run" not in page
    assert page.count('<span class="badge badge-completed">ok</span>') >= 4
    assert "Sending email" in page and "Deleting unconfirmed imports" in page


def test_a_job_not_run_for_twice_its_interval_is_warned_of(app):
    now = utcnow()
    for job in JobName:
        db.session.add(JobRun(name=job, started_at=now, finished_at=now, outcome="ok"))
    db.session.get(JobRun, "sync").started_at = now - timedelta(minutes=11)  # SYNC_INTERVAL is 5 minutes
    db.session.get(JobRun, "digest").outcome, db.session.get(JobRun, "digest").error = "failed", "RuntimeError: boom"
    db.session.commit()
    page = dashboard(app)
    assert "No worker has run testpress sync for over twice its interval" in page
    assert '<span class="badge badge-alert">failed</span> RuntimeError: boom' in page
